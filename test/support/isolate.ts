/**
 * One app kept across requests, as an isolate keeps it, on a clock the test moves: for caches
 * whose behaviour depends on time (revocations, usage). Two of them stand for two isolates; they
 * share the suite's Durable Objects, as isolates share them in production.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { type AppDeps, createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/env.ts";
import { ORIGIN } from "./app.ts";
import { TEST_ADMIN_SECRET } from "./constants.ts";

export interface TestClock {
  now: () => number;
  advance: (ms: number) => void;
}

export function testClock(startMs = Date.now()): TestClock {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
  };
}

export type IsolateFetch = (path: string, init?: RequestInit) => Promise<Response>;

/** `deps.fetch` stands in for the outside world (the partner's key endpoint): tests never reach the network. */
export function isolateApp(
  clock: TestClock,
  overrides: Record<string, unknown> = {},
  deps: Pick<AppDeps, "fetch"> = {},
): IsolateFetch {
  const result = loadConfig({ ...env, ...overrides });
  if (!result.ok) throw new Error(`test config does not parse: ${JSON.stringify(result.problems)}`);
  const app = createApp({ config: result.config, clock: clock.now, ...deps });
  return async (path, init) => {
    const ctx = createExecutionContext();
    const response = await app.request(ORIGIN + path, init, env, ctx);
    // The body is read first: waitUntil work (usage batches, background refreshes) ends with the request.
    const body = await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    return new Response(body, response);
  };
}

let adminClient = 0;

/** An admin call with the suite's admin credential, from an address of its own (admin routes are limited per IP). */
export function adminRequest(
  fetch: IsolateFetch,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<Response> {
  adminClient++;
  return fetch(path, {
    method,
    headers: {
      "X-Admin-Key": TEST_ADMIN_SECRET,
      "CF-Connecting-IP": `10.77.${Math.floor(adminClient / 250)}.${adminClient % 250}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Issues a signed key through the admin route and returns it. */
export async function issueKey(
  fetch: IsolateFetch,
  request: { id: string; tenant: string; scopes?: string[]; rate_limit?: string },
): Promise<string> {
  const response = await adminRequest(fetch, "POST", "/admin/keys", { scopes: ["metrics:read"], ...request });
  if (response.status !== 201) throw new Error(`issuing ${request.id}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { key: string }).key;
}

/** A fresh id or slug, so tests sharing the registry object never see each other's keys. */
export const uniqueName = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** Signs a seeded user in for a dashboard session: the cookie as the browser sends it back, and its CSRF token. */
export async function dashboardSession(
  fetch: IsolateFetch,
  username: string,
  headers: Record<string, string>,
): Promise<{ cookie: string; csrf: string }> {
  const response = await fetch("/auth/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ username, password: DEMO_PASSWORD }),
  });
  expect(response.status).toBe(200);
  const cookie = response.headers
    .getSetCookie()
    .find((line) => line.startsWith("__Host-sf-session="))!
    .split(";")[0]!;
  return { cookie, csrf: ((await response.json()) as { csrfToken: string }).csrfToken };
}
