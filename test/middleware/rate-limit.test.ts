import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { onError } from "../../src/errors.ts";
import { keyedLimit, type RateLimitOptions, rateLimit, rateLimits } from "../../src/middleware/rate-limit.ts";
import { createRouter } from "../../src/openapi.ts";
import type { RateLimiter } from "../../src/rate-limit/durable-object.ts";
import { type FailMode, type RatePolicy, ratePolicy } from "../../src/rate-limit/policy.ts";
import { countingNamespace } from "../support/counting-namespace.ts";

type Namespace = DurableObjectNamespace<RateLimiter>;

/** The ways an object call fails in production: a deploy's reset, overload, the network, no answer at all. */
const FAILURES = {
  "is reset by a deploy": () => Promise.reject(new Error("Durable Object reset because its code was updated.")),
  "is overloaded": () => Promise.reject(new Error("Durable Object is overloaded. Too many requests queued.")),
  "loses its connection": () => Promise.reject(new TypeError("Network connection lost.")),
  hangs: () => new Promise<never>(() => {}),
} as const;
type Failure = keyof typeof FAILURES;
const FAILURE_KINDS = Object.keys(FAILURES) as Failure[];

/** A namespace whose objects fail, every call, in the way `how` says. */
function failingNamespace(how: Failure): Namespace {
  return {
    idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
    get: () => ({ acquire: FAILURES[how] }),
  } as unknown as Namespace;
}

/** A real namespace whose grants arrive `delayMs` late. */
function slowNamespace(delayMs: number): Namespace {
  return {
    idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = env.RATE_LIMITER.get(id);
      return {
        acquire: async (request: Parameters<typeof stub.acquire>[0]) => {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          return stub.acquire(request);
        },
        release: (...args: Parameters<typeof stub.release>) => stub.release(...args),
      };
    },
  } as unknown as Namespace;
}

/** Drives the limiter object of (`policy`, `ip`) by the same clock as the app. */
async function shareClock(policy: RatePolicy, ip: string, clock: () => number): Promise<void> {
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`${policy.name}:ip:${ip}`));
  await runInDurableObject(stub, (instance) => {
    instance.clock = clock;
  });
}

let policyCounter = 0;
function limitedApp(options: Partial<RateLimitOptions> & { limit?: string; failMode?: FailMode } = {}) {
  // A fresh policy name per app keeps tests from sharing counters in the same objects.
  const policy = ratePolicy(`t${++policyCounter}`, options.limit ?? "100/minute", options.failMode ?? "closed");
  const app = createRouter();
  app.get("/limited", rateLimit({ namespace: env.RATE_LIMITER, policy, ...options }), (c) => c.json({ ok: true }));
  app.onError(onError);
  return { app, policy };
}

function get(app: ReturnType<typeof limitedApp>["app"], ip?: string, headers: Record<string, string> = {}) {
  return app.request("/limited", { headers: { ...(ip === undefined ? {} : { "CF-Connecting-IP": ip }), ...headers } });
}

describe("rate limit middleware", () => {
  afterEach(() => vi.restoreAllMocks());

  it("admits exactly 100 of 1,000 concurrent requests from one IP", async () => {
    const { app } = limitedApp();
    const responses = await Promise.all(Array.from({ length: 1000 }, () => get(app, "198.51.100.1")));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(100);
    expect(statuses.filter((status) => status === 429)).toHaveLength(900);
  });

  it("returns 429 with Retry-After and a problem body after the 100th request", async () => {
    const nowMs = Date.now();
    const { app, policy } = limitedApp({ clock: () => nowMs });
    // The object's clock too: on a busy machine 100 requests may span a second, and Retry-After with it.
    await shareClock(policy, "198.51.100.2", () => nowMs);
    for (let i = 0; i < 100; i++) expect((await get(app, "198.51.100.2")).status).toBe(200);
    const refused = await get(app, "198.51.100.2");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(await refused.json()).toMatchObject({ status: 429, code: "rate-limited" });
  });

  it("reports remaining and reset in RateLimit and resets the window on a controllable clock", async () => {
    const startMs = Date.now();
    let nowMs = startMs;
    const { app, policy } = limitedApp({ limit: "3/minute", clock: () => nowMs });
    await shareClock(policy, "198.51.100.3", () => nowMs);
    const first = await get(app, "198.51.100.3");
    expect(first.headers.get("ratelimit-policy")).toBe(`"${policy.name}";q=3;w=60`);
    expect(first.headers.get("ratelimit")).toBe(`"${policy.name}";r=2;t=60`);

    nowMs += 17_000;
    expect((await get(app, "198.51.100.3")).headers.get("ratelimit")).toBe(`"${policy.name}";r=1;t=43`);
    nowMs += 500;
    expect((await get(app, "198.51.100.3")).headers.get("ratelimit")).toBe(`"${policy.name}";r=0;t=43`);

    nowMs += 20_000;
    const refused = await get(app, "198.51.100.3");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("ratelimit")).toBe(`"${policy.name}";r=0;t=23`);
    expect(refused.headers.get("retry-after")).toBe("23");

    nowMs = startMs + 60_000;
    const afterReset = await get(app, "198.51.100.3");
    expect(afterReset.status).toBe(200);
    expect(afterReset.headers.get("ratelimit")).toBe(`"${policy.name}";r=2;t=60`);
  });

  it("counts two IPs independently", async () => {
    const { app } = limitedApp({ limit: "1/minute" });
    expect((await get(app, "198.51.100.4")).status).toBe(200);
    expect((await get(app, "198.51.100.4")).status).toBe(429);
    expect((await get(app, "198.51.100.5")).status).toBe(200);
  });

  it("shares one counter between two IPv6 addresses of one /64, and not across /64s", async () => {
    const { app } = limitedApp({ limit: "1/minute" });
    expect((await get(app, "2001:db8:aa:1::1")).status).toBe(200);
    expect((await get(app, "2001:db8:aa:1:ffff::2")).status).toBe(429);
    expect((await get(app, "2001:db8:aa:2::1")).status).toBe(200);
  });

  it("ignores a spoofed X-Forwarded-For and other client-set address headers", async () => {
    const { app } = limitedApp({ limit: "1/minute" });
    expect((await get(app, "198.51.100.6")).status).toBe(200);
    const spoofed = await get(app, "198.51.100.6", {
      "X-Forwarded-For": "203.0.113.99",
      "X-Real-IP": "203.0.113.98",
      "True-Client-IP": "203.0.113.97",
      Forwarded: "for=203.0.113.96",
    });
    expect(spoofed.status).toBe(429);
  });

  it("limits requests with no client IP together instead of exempting them", async () => {
    const { app } = limitedApp({ limit: "2/minute" });
    expect((await get(app)).status).toBe(200);
    expect((await get(app, undefined, { "X-Forwarded-For": "203.0.113.1" })).status).toBe(200);
    expect((await get(app, "not-an-address")).status).toBe(429);
  });

  it("refuses a blocked client from isolate memory without calling the Durable Object again", async () => {
    const { namespace, calls } = countingNamespace();
    const { app } = limitedApp({ limit: "2/minute", namespace });
    for (let i = 0; i < 3; i++) await get(app, "198.51.100.7");
    expect(calls()).toBe(3);
    for (let i = 0; i < 50; i++) expect((await get(app, "198.51.100.7")).status).toBe(429);
    expect(calls()).toBe(3);
    // Another client is still asked: the cache only short-circuits refusals.
    expect((await get(app, "198.51.100.8")).status).toBe(200);
    expect(calls()).toBe(4);
  });

  it("asks the Durable Object again once a blocked client's window has reset", async () => {
    const startMs = Date.now();
    let nowMs = startMs;
    const { namespace, calls } = countingNamespace();
    const { app, policy } = limitedApp({ limit: "1/minute", namespace, clock: () => nowMs });
    await shareClock(policy, "198.51.100.9", () => nowMs);
    await get(app, "198.51.100.9");
    await get(app, "198.51.100.9");
    nowMs += 60_000;
    expect((await get(app, "198.51.100.9")).status).toBe(200);
    expect(calls()).toBe(3);
  });

  it("asks the Durable Object once per lease, not once per request, for a hot client", async () => {
    const { namespace, calls } = countingNamespace();
    const { app } = limitedApp({ limit: "1000/minute", namespace });
    const responses: Response[] = [];
    for (let i = 0; i < 120; i++) responses.push(await get(app, "198.51.100.12"));
    expect(responses.every((response) => response.status === 200)).toBe(true);
    // Leases double from one permit up to a twentieth of the limit: 1+2+4+8+16+32+50+50 ≥ 120 in eight calls.
    expect(calls()).toBe(8);
    const remaining = responses.map((response) => Number(/r=(\d+)/.exec(response.headers.get("ratelimit") ?? "")![1]));
    expect(Math.min(...remaining)).toBe(1000 - 120);
  });

  it.each(FAILURE_KINDS)("fails closed when the Durable Object %s and the policy says closed", async (how) => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { app } = limitedApp({ failMode: "closed", namespace: failingNamespace(how), timeoutMs: 50 });
    const response = await get(app, "198.51.100.10");
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ status: 503, code: "rate-limiter-unavailable" });
    expect(text).not.toContain("Durable Object");
  });

  it.each(FAILURE_KINDS)("fails open when the Durable Object %s and the policy says open", async (how) => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const { app } = limitedApp({ failMode: "open", namespace: failingNamespace(how), timeoutMs: 50 });
    const response = await get(app, "198.51.100.11");
    expect(response.status).toBe(200);
    expect(response.headers.get("ratelimit")).toBeNull();
    expect(log.mock.calls.join("\n")).toContain("rate_limiter_unavailable");
  });

  it.each(FAILURE_KINDS)(
    "admits one request per client and interval while the Durable Object %s, and the neighbour its own",
    async (how) => {
      vi.spyOn(console, "error").mockImplementation(() => {});
      let nowMs = Date.now();
      // 100/minute fails open at the policy's own spacing: one request per 600 ms.
      const { app } = limitedApp({
        failMode: "open",
        namespace: failingNamespace(how),
        timeoutMs: 50,
        clock: () => nowMs,
      });
      const [attack, neighbour] = await Promise.all([
        Promise.all(Array.from({ length: 40 }, () => get(app, "198.51.100.12"))),
        get(app, "198.51.100.13"),
      ]);
      expect(attack.filter((response) => response.status === 200)).toHaveLength(1);
      const refused = attack.filter((response) => response.status !== 200);
      expect(refused.map((response) => response.status)).toEqual(Array(39).fill(429));
      expect(new Set(refused.map((response) => response.headers.get("retry-after")))).toEqual(new Set(["1"]));
      expect(neighbour.status).toBe(200);

      // The attacker's next requests, one after another within the interval, each fail again: none is admitted.
      nowMs += 599;
      for (let i = 0; i < 10; i++) expect((await get(app, "198.51.100.12")).status).toBe(429);
      nowMs += 1;
      expect((await get(app, "198.51.100.12")).status).toBe(200);
      expect((await get(app, "198.51.100.12")).status).toBe(429);
    },
  );

  it("hands back a grant that arrives after its timeout, so the client's allowance is whole", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const policy = ratePolicy(`t${++policyCounter}`, "2/minute", "closed");
    const slow = createRouter();
    slow.get("/limited", rateLimit({ namespace: slowNamespace(100), policy, timeoutMs: 20 }), (c) =>
      c.json({ ok: true }),
    );
    slow.onError(onError);
    expect((await get(slow, "198.51.100.14")).status).toBe(503);
    // The late grant reaches the object 100 ms after the call; its hand-back follows.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const prompt = createRouter();
    prompt.get("/limited", rateLimit({ namespace: env.RATE_LIMITER, policy }), (c) => c.json({ ok: true }));
    prompt.onError(onError);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(prompt, "198.51.100.14")).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});

/** An address limit, then an account's own limit (by `X-Account`), in one `rateLimits` layer. */
function addressThenAccountApp(addressLimit: string, accountLimit: string, namespace: Namespace = env.RATE_LIMITER) {
  const perAddress = keyedLimit({ namespace, policy: ratePolicy(`t${++policyCounter}`, addressLimit, "closed") });
  const perAccount = keyedLimit({
    namespace,
    policy: ratePolicy(`t${++policyCounter}`, accountLimit, "closed"),
    key: (c) => `account:${c.req.header("x-account")}`,
  });
  const app = createRouter();
  app.get("/limited", rateLimits({ limits: [perAddress, perAccount] }), (c) => c.json({ ok: true }));
  app.onError(onError);
  return app;
}

/** Lets hand-backs, which run after the response, reach their objects. */
const afterResponses = () => new Promise((resolve) => setTimeout(resolve, 50));

describe("limits in one layer", () => {
  it("hands the address's permit back when an account's own limit refuses, so the address's other accounts keep it", async () => {
    const app = addressThenAccountApp("5/minute", "1/minute");
    const attacker: number[] = [];
    for (let i = 0; i < 10; i++) attacker.push((await get(app, "198.51.100.50", { "X-Account": "a" })).status);
    expect(attacker).toEqual([200, ...Array(9).fill(429)]);
    await afterResponses();
    const neighbours: number[] = [];
    for (let i = 0; i < 5; i++) neighbours.push((await get(app, "198.51.100.50", { "X-Account": `n${i}` })).status);
    expect(neighbours, "the address's 5 less the 1 the refused account was admitted").toEqual([
      200, 200, 200, 200, 429,
    ]);
  });

  it("refuses a limit this isolate already knows to be exhausted without spending the others or calling any object", async () => {
    const { namespace, calls } = countingNamespace();
    const app = addressThenAccountApp("100/minute", "1/minute", namespace);
    expect((await get(app, "198.51.100.51", { "X-Account": "b" })).status).toBe(200);
    // The object tells this refusal; the address's permit goes back to its object.
    expect((await get(app, "198.51.100.51", { "X-Account": "b" })).status).toBe(429);
    await afterResponses();
    const callsBefore = calls();
    for (let i = 0; i < 20; i++) expect((await get(app, "198.51.100.51", { "X-Account": "b" })).status).toBe(429);
    await afterResponses();
    expect(calls()).toBe(callsBefore);
  });
});
