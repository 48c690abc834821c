import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/env.ts";
import { TEST_API_KEYS } from "../support/constants.ts";

/** One app across requests, as in an isolate, with a limit of 2 a minute on authenticated reads. */
function isolateApp() {
  const result = loadConfig({ ...env, RATE_LIMIT_API: "2/minute" });
  if (!result.ok) throw new Error("test config does not parse");
  const app = createApp({ config: result.config });
  return async (ip: string, headers: Record<string, string> = {}, host = "localhost", method = "GET") => {
    const ctx = createExecutionContext();
    const response = await app.request(`http://${host}/auth/me`, { method, headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "CF-Connecting-IP": ip, ...headers } }, env, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
}

const EXPOSED = "RateLimit, RateLimit-Policy, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Id";
const PER_RESPONSE = new Set(["x-request-id", "ratelimit", "retry-after", "content-length", "x-ratelimit-reset"]);
const stableHeaders = (response: Response) => [...response.headers].filter(([name]) => !PER_RESPONSE.has(name));

describe("flood gate middleware", () => {
  it("answers a refused client with a copy of the full chain's 429: same headers, same problem, its own id", async () => {
    const get = isolateApp();
    await get("203.0.113.50");
    await get("203.0.113.50");
    const fromChain = await get("203.0.113.50");
    const fromGate = await get("203.0.113.50");
    expect(fromChain.status).toBe(429);
    expect(fromGate.status).toBe(429);
    expect(stableHeaders(fromGate)).toEqual(stableHeaders(fromChain));
    expect(fromGate.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(fromGate.headers.get("ratelimit")).toMatch(/^"api";r=0;t=\d+$/);
    expect(fromGate.headers.get("x-request-id")).not.toBe(fromChain.headers.get("x-request-id"));
    const [chainBody, gateBody] = [(await fromChain.json()) as Record<string, unknown>, (await fromGate.json()) as Record<string, unknown>];
    expect({ ...gateBody, request_id: undefined, detail: undefined }).toEqual({ ...chainBody, request_id: undefined, detail: undefined });
    expect(gateBody.request_id).toBe(fromGate.headers.get("x-request-id"));
  });

  it("answers before the rest of the chain runs (a refused client's bad Host is not even looked at)", async () => {
    const get = isolateApp();
    for (let i = 0; i < 3; i++) await get("203.0.113.51");
    expect((await get("203.0.113.51", {}, "evil.example.net")).status).toBe(429);
    expect((await get("203.0.113.52", {}, "evil.example.net")).status).toBe(400);
  });

  it("lets other clients through, and gives a listed browser origin the CORS headers the chain would", async () => {
    const get = isolateApp();
    for (let i = 0; i < 3; i++) await get("203.0.113.53");
    expect((await get("203.0.113.54")).status).toBe(200);
    const listed = await get("203.0.113.53", { Origin: "https://app.streamforge.test" });
    expect(listed.status).toBe(429);
    expect(listed.headers.get("access-control-allow-origin")).toBe("https://app.streamforge.test");
    expect(listed.headers.get("access-control-allow-credentials")).toBe("true");
    expect(listed.headers.get("access-control-expose-headers")).toBe(EXPOSED);
    const foreign = await get("203.0.113.53", { Origin: "https://evil.example.net" });
    expect(foreign.status).toBe(429);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    expect(foreign.headers.get("access-control-expose-headers")).toBeNull();
    expect(foreign.headers.get("vary")).toContain("Origin");
  });

  it("answers an allowed origin's preflight while the client is limited, so the browser can read the 429 that follows", async () => {
    const get = isolateApp();
    const origin = "https://app.streamforge.test";
    await get("203.0.113.55");
    await get("203.0.113.55");
    const fromChain = await get("203.0.113.55", { Origin: origin });
    expect(fromChain.status).toBe(429);
    expect(fromChain.headers.get("access-control-allow-origin")).toBe(origin);
    expect(fromChain.headers.get("access-control-expose-headers")).toBe(EXPOSED);
    const preflight = await get("203.0.113.55", { Origin: origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" }, "localhost", "OPTIONS");
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    const refusedPreflight = await get("203.0.113.55", { Origin: "https://evil.example.net", "Access-Control-Request-Method": "GET" }, "localhost", "OPTIONS");
    expect(refusedPreflight.status).toBe(403);
    expect(refusedPreflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("keeps a listed origin's CORS headers out of the refusal it reuses: a foreign origin served from the gate gets none", async () => {
    const get = isolateApp();
    const origin = "https://app.streamforge.test";
    await get("203.0.113.56");
    await get("203.0.113.56");
    // The chain's 429 the gate copies was answered to a listed origin.
    const fromChain = await get("203.0.113.56", { Origin: origin });
    expect(fromChain.headers.get("access-control-expose-headers")).toBe(EXPOSED);
    const fromGate = await get("203.0.113.56", { Origin: "https://evil.example.net" });
    expect(fromGate.status).toBe(429);
    for (const name of ["access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers"]) expect(fromGate.headers.get(name), name).toBeNull();
    const listedFromGate = await get("203.0.113.56", { Origin: origin });
    expect(listedFromGate.headers.get("access-control-expose-headers")).toBe(EXPOSED);
  });
});
