/**
 * Helpers to drive the worker inside workerd: `fetchWorker` goes through the deployed entry point
 * (exactly what a client hits); `requestWith` builds a fresh app with an env override, for cases
 * the shared bindings cannot express (a dead database, a broken secret).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { createApp } from "../../src/app.ts";

export const ORIGIN = "http://localhost";

export function fetchWorker(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(ORIGIN + path, init));
}

export async function requestWith(overrides: Record<string, unknown>, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await createApp().request(ORIGIN + path, init, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export async function readProblem(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}
