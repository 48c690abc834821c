import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/env.ts";
import { floodGate } from "../../src/middleware/flood-gate.ts";
import { DenyCache } from "../../src/rate-limit/deny-cache.ts";
import { policyHeader, ratePolicy } from "../../src/rate-limit/policy.ts";
import { TEST_API_KEYS } from "../support/constants.ts";

/** One app across requests, as in an isolate, with a limit of 2 a minute on authenticated reads. */
function isolateApp() {
  const result = loadConfig({ ...env, RATE_LIMIT_API: "2/minute" });
  if (!result.ok) throw new Error("test config does not parse");
  const app = createApp({ config: result.config });
  return async (ip: string, headers: Record<string, string> = {}, host = "localhost", method = "GET") => {
    const ctx = createExecutionContext();
    const response = await app.request(
      `http://${host}/auth/me`,
      { method, headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "CF-Connecting-IP": ip, ...headers } },
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return response;
  };
}

const EXPOSED =
  "RateLimit, RateLimit-Policy, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Id";
const PER_RESPONSE = new Set(["x-request-id", "ratelimit", "retry-after", "content-length", "x-ratelimit-reset"]);
const stableHeaders = (response: Response) => [...response.headers].filter(([name]) => !PER_RESPONSE.has(name));

describe("flood gate middleware", () => {
  afterEach(() => vi.restoreAllMocks());

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
    const [chainBody, gateBody] = [
      (await fromChain.json()) as Record<string, unknown>,
      (await fromGate.json()) as Record<string, unknown>,
    ];
    expect({ ...gateBody, request_id: undefined, detail: undefined }).toEqual({
      ...chainBody,
      request_id: undefined,
      detail: undefined,
    });
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

  it("gives each refusal built from a shared template its own id, and a listed origin's CORS headers to nobody else", async () => {
    const get = isolateApp();
    const origin = "https://app.streamforge.test";
    for (let i = 0; i < 3; i++) await get("203.0.113.56");
    const [listed, bare, listedAgain] = await Promise.all([
      get("203.0.113.56", { Origin: origin }),
      get("203.0.113.56"),
      get("203.0.113.56", { Origin: origin }),
    ]);
    const ids = [listed, bare, listedAgain].map((response) => response.headers.get("x-request-id"));
    expect(new Set(ids).size).toBe(3);
    for (const [index, response] of [listed, bare, listedAgain].entries()) {
      expect(response.status).toBe(429);
      expect(((await response.json()) as { request_id: string }).request_id).toBe(ids[index]);
    }
    expect(listed.headers.get("access-control-allow-origin")).toBe(origin);
    expect(listedAgain.headers.get("access-control-allow-origin")).toBe(origin);
    expect(bare.headers.get("access-control-allow-origin")).toBeNull();
    expect(bare.headers.get("access-control-allow-credentials")).toBeNull();
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
    const preflight = await get(
      "203.0.113.55",
      { Origin: origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" },
      "localhost",
      "OPTIONS",
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    const refusedPreflight = await get(
      "203.0.113.55",
      { Origin: "https://evil.example.net", "Access-Control-Request-Method": "GET" },
      "localhost",
      "OPTIONS",
    );
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
    for (const name of [
      "access-control-allow-origin",
      "access-control-allow-credentials",
      "access-control-expose-headers",
    ])
      expect(fromGate.headers.get(name), name).toBeNull();
    const listedFromGate = await get("203.0.113.56", { Origin: origin });
    expect(listedFromGate.headers.get("access-control-expose-headers")).toBe(EXPOSED);
  });
});

/** The gate around a one-route app whose route refuses every client; counts the requests Hono routed. */
function gatedApp() {
  const policy = ratePolicy("api", "2/minute", "open");
  const denyCache = new DenyCache();
  const gate = floodGate({
    denyCache,
    clientKey: (headers) => headers.get("cf-connecting-ip") ?? "none",
    allowedOrigins: new Set(),
    guards: [{ paths: ["/limited/*"], policy }],
  });
  let routed = 0;
  const app = new Hono();
  app.use(async (_c, next) => {
    routed++;
    await next();
  });
  app.use(gate.middleware);
  app.on(["GET", "HEAD"], "/limited/thing", (c) => {
    denyCache.block(`api:${c.req.header("cf-connecting-ip")}`, Date.now() + 60_000);
    return c.json({ status: 429 }, 429, { "RateLimit-Policy": policyHeader(policy) });
  });
  const fetch = async (path: string, ip: string, method = "GET") => {
    const request = new Request(`http://localhost${path}`, { method, headers: { "CF-Connecting-IP": ip } });
    return gate.answer(request) ?? app.fetch(request);
  };
  return { fetch, routed: () => routed };
}

describe("flood gate before routing", () => {
  it("answers a refused client without routing once the chain has routed that path", async () => {
    const { fetch, routed } = gatedApp();
    expect((await fetch("/limited/thing", "a")).status).toBe(429);
    expect(routed()).toBe(1);
    for (let i = 0; i < 3; i++) expect((await fetch("/limited/thing", "a")).status).toBe(429);
    expect(routed()).toBe(1);
    expect((await fetch("/limited/thing", "b")).status).toBe(429);
    expect(routed()).toBe(2);
  });

  it("leaves a path no route matched, HEAD and preflights to the router", async () => {
    const { fetch, routed } = gatedApp();
    await fetch("/limited/thing", "a");
    const unmatched = await fetch("/limited/nothing", "a");
    expect(unmatched.status).toBe(429);
    expect(((await unmatched.json()) as { instance: string }).instance).toMatch(/^urn:uuid:/);
    await fetch("/limited/nothing", "a");
    expect(routed()).toBe(3);
    const head = await fetch("/limited/thing", "a", "HEAD");
    expect(head.status).toBe(429);
    expect(await head.text()).toBe("");
    expect(routed()).toBe(4);
    await fetch("/limited/thing", "a", "OPTIONS");
    expect(routed()).toBe(5);
  });

  it("keeps at most 1,000 prepared refusals however many waits and resets a refused client runs through", () => {
    let nowMs = Date.UTC(2026, 0, 1);
    const denyCache = new DenyCache();
    const policy = ratePolicy("api", "100/minute", "open");
    const gate = floodGate({
      denyCache,
      clientKey: () => "ip:192.0.2.9",
      guards: [{ paths: ["/x"], policy }],
      allowedOrigins: new Set(),
      clock: () => nowMs,
    });
    const app = new Hono()
      .use(gate.middleware)
      .get("/x", (c) => c.text("", 429, { "RateLimit-Policy": policyHeader(policy) }));
    // Prepared refusals are kept in a Map keyed `policy|wait|reset|instance|origin`: the sizes it is grown from.
    const refusalKey = /^api\|\d+\|\d+\|/;
    const sizes: number[] = [];
    const set = Map.prototype.set;
    vi.spyOn(Map.prototype, "set").mockImplementation(function (this: Map<unknown, unknown>, key, value) {
      if (typeof key === "string" && refusalKey.test(key)) sizes.push(this.size);
      return set.call(this, key, value);
    });
    return (async () => {
      expect((await app.request("http://localhost/x")).status).toBe(429);
      denyCache.block("api:ip:192.0.2.9", nowMs + 86_400_000);
      // Each second the wait and the reset move: a new refusal to prepare, 1,500 times.
      for (let second = 0; second < 1_500; second++) {
        nowMs += 1_000;
        expect((await app.request("http://localhost/x")).status).toBe(429);
      }
      expect(sizes.length).toBeGreaterThanOrEqual(1_500);
      expect(Math.max(...sizes)).toBeLessThan(1_000);
    })();
  });
});
