/**
 * Helpers to drive the worker inside workerd: `fetchWorker` goes through the deployed entry point
 * (exactly what a client hits); `requestWith` calls the same handler with an env override, for
 * cases the shared bindings cannot express (a dead database, a broken secret, production mode).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { worker } from "../../src/worker.ts";

export const ORIGIN = "http://localhost";

export function fetchWorker(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(ORIGIN + path, init));
}

/** `path` may be a full URL, to test other schemes and hosts. */
export async function requestWith(
  overrides: Record<string, unknown>,
  path: string,
  init?: RequestInit,
): Promise<Response> {
  const ctx = createExecutionContext();
  const url = path.startsWith("/") ? ORIGIN + path : path;
  const response = await worker.fetch(
    new Request(url, init) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...overrides } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

export async function readProblem(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}
