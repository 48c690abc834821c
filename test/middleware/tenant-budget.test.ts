import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import type { AppEnv } from "../../src/env.ts";
import { onError } from "../../src/errors.ts";
import { createRateLimiter, keyedLimit, rateLimits } from "../../src/middleware/rate-limit.ts";
import { tenantBudget } from "../../src/middleware/tenant-budget.ts";
import { ratePolicy } from "../../src/rate-limit/policy.ts";
import { worker } from "../../src/worker.ts";
import { ORIGIN } from "../support/app.ts";
import { TEST_TOKENS } from "../support/constants.ts";
import { countingNamespace } from "../support/counting-namespace.ts";

/** Tenants of this file alone and of this run: their budgets start whole whatever ran before. */
const RUN = crypto.randomUUID().slice(0, 8);
const tenantName = (role: string) => `budget-${role}-${RUN}`;

/**
 * A route behind the budget whose reads end when the test says so; the principal's tenant comes
 * from a header, standing in for authentication.
 */
function budgetedApp(options: { maxInFlight: number; queriesPerMinute?: number; clock?: () => number }) {
  const limiter = createRateLimiter({
    namespace: env.RATE_LIMITER,
    policy: ratePolicy("tenant-queries", `${options.queriesPerMinute ?? 1000}/minute`, "open"),
  });
  const pending: (() => void)[] = [];
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use(async (c, next) => {
    c.set("principal", { kind: "user", subject: "someone", tenant: c.req.header("x-tenant") ?? "", role: "analyst" });
    await next();
  });
  app.use(
    tenantBudget({ limiter, maxInFlight: options.maxInFlight, ...(options.clock ? { clock: options.clock } : {}) })
      .middleware,
  );
  app.get("/read", async (c) => {
    await new Promise<void>((resolve) => pending.push(resolve));
    return c.text("read");
  });
  app.onError(onError);
  const read = (tenant: string) => app.request("/read", { headers: { "x-tenant": tenant } });
  /** Ends every read in flight. */
  const finishReads = () => {
    for (const resolve of pending.splice(0)) resolve();
  };
  /** Resolves once `count` reads are inside the handler. */
  const reading = async (count: number) => {
    while (pending.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  return { read, finishReads, reading };
}

/** Limiter objects asked for, through the namespace every isolate is given. */
const limiters = countingNamespace();

/** One isolate of the worker with its own configuration. */
function isolate(vars: Record<string, string>) {
  const isolateEnv = { ...env, RATE_LIMITER: limiters.namespace, ...vars } as unknown as Env;
  return async (path: string, ip: string, credential: Record<string, string>) => {
    const ctx = createExecutionContext();
    const request = new Request(`${ORIGIN}${path}`, { headers: { "CF-Connecting-IP": ip, ...credential } });
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, isolateEnv, ctx);
    const body = await response.text();
    await waitOnExecutionContext(ctx);
    return { status: response.status, headers: response.headers, body };
  };
}

describe("per-tenant database budget", () => {
  it("refuses a tenant's read beyond its reads in flight in this isolate with a 429 problem, and admits again once one ends", async () => {
    const { read, finishReads, reading } = budgetedApp({ maxInFlight: 2 });
    const tenant = tenantName("inflight");
    const first = [read(tenant), read(tenant)];
    await reading(2);
    const refused = await read(tenant);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({ status: 429, code: "tenant-busy" });
    finishReads();
    expect((await Promise.all(first)).map((response) => response.status)).toEqual([200, 200]);
    const again = read(tenant);
    await reading(1);
    finishReads();
    expect((await again).status).toBe(200);
  });

  it("refuses a read while its tenant's slots are all held before the read limits spend anything, asking no object", async () => {
    const { namespace, calls } = countingNamespace();
    const policy = ratePolicy("tenant-queries", "1000/minute", "open");
    const budget = tenantBudget({ limiter: createRateLimiter({ namespace, policy }), maxInFlight: 1 });
    const perAddress = keyedLimit({ namespace, policy: ratePolicy(`budget-address-${RUN}`, "100/minute", "closed") });
    const pending: (() => void)[] = [];
    const app = new Hono<AppEnv>();
    app.use(requestId());
    app.use(async (c, next) => {
      c.set("principal", { kind: "user", subject: "someone", tenant: tenantName("slots"), role: "analyst" });
      await next();
    });
    app.use(rateLimits({ limits: [perAddress, budget.knownRefusal] }), budget.middleware);
    app.get("/read", async (c) => {
      await new Promise<void>((resolve) => pending.push(resolve));
      return c.text("read");
    });
    app.onError(onError);
    const read = () => app.request("/read", { headers: { "CF-Connecting-IP": "198.51.100.90" } });

    const first = read();
    while (pending.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    const callsBefore = calls();
    const refused = await read();
    expect(await refused.json()).toMatchObject({ status: 429, code: "tenant-busy" });
    // Neither a lease for the address nor a hand-back of one: the refusal came before any spending.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls()).toBe(callsBefore);
    for (const resolve of pending) resolve();
    expect((await first).status).toBe(200);
  });

  it("keeps another tenant's reads admitted while one tenant holds all its slots", async () => {
    const { read, finishReads, reading } = budgetedApp({ maxInFlight: 2 });
    const flooding = [read(tenantName("holder")), read(tenantName("holder"))];
    await reading(2);
    expect((await read(tenantName("holder"))).status).toBe(429);
    const other = read(tenantName("other"));
    await reading(3);
    finishReads();
    expect((await other).status).toBe(200);
    await Promise.all(flooding);
  });

  it("lets a slot whose request never handed it back lapse, so a cancelled read cannot shut its tenant out", async () => {
    let nowMs = Date.now();
    const { read, reading, finishReads } = budgetedApp({ maxInFlight: 2, clock: () => nowMs });
    const tenant = tenantName("cancelled");
    // Reads that never end, as a request the runtime cancelled mid-read never reaches its finally.
    void read(tenant);
    void read(tenant);
    await reading(2);
    expect((await read(tenant)).status).toBe(429);
    nowMs += 10_000;
    const after = read(tenant);
    await reading(3);
    finishReads();
    expect((await after).status).toBe(200);
  });

  it("tenant A's flood of overviews from many addresses and users stays within A's query budget, and tenant B's reads all succeed meanwhile", {
    timeout: 60_000,
  }, async () => {
    const fetch = isolate({
      RATE_LIMIT_TENANT_QUERIES: "15/minute",
      TENANT_QUERY_CONCURRENCY: "3",
      RATE_LIMIT_PRINCIPAL: "100000/minute",
    });
    const [flooder, reader] = [tenantName("flood-a"), tenantName("reader-b")];
    const bearer = async (sub: string, tenant: string) => ({
      Authorization: `Bearer ${await issueToken({ sub, tenant }, TEST_TOKENS)}`,
    });
    const attackers = await Promise.all(
      Array.from({ length: 10 }, (_, n) => bearer(`flood-user-${n}-${RUN}`, flooder)),
    );
    const victim = await bearer(`reader-${RUN}`, reader);

    const flood = async () => {
      const answers = [];
      // 8 waves of 10 at once, each request from its own address and one of 10 users.
      for (let wave = 0; wave < 8; wave++) {
        answers.push(
          ...(await Promise.all(
            attackers.map((credential, n) =>
              fetch("/metrics/overview?window=7d", `10.85.${wave}.${n + 1}`, credential),
            ),
          )),
        );
      }
      return answers;
    };
    const readEverySoOften = async () => {
      const answers = [];
      for (let i = 0; i < 8; i++) {
        answers.push(await fetch(i % 2 === 0 ? "/metrics/overview" : "/streams", `10.86.0.${i + 1}`, victim));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return answers;
    };
    const [flooded, read] = await Promise.all([flood(), readEverySoOften()]);

    expect(read.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    // The attacker's ceiling: its tenant's query budget, however many users and addresses it uses.
    const admitted = flooded.filter((answer) => answer.status === 200);
    expect(admitted.length).toBeLessThanOrEqual(15);
    expect(admitted.length).toBeGreaterThan(0);
    const refused = flooded.filter((answer) => answer.status !== 200);
    expect(refused.length).toBe(80 - admitted.length);
    for (const answer of refused) {
      expect(answer.status).toBe(429);
      expect(answer.headers.get("content-type")).toBe("application/problem+json");
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(["rate-limited", "tenant-busy"]).toContain((JSON.parse(answer.body) as { code: string }).code);
    }
    expect(refused.some((answer) => answer.headers.get("ratelimit-policy")?.includes('"tenant-queries";q=15'))).toBe(
      true,
    );
  });

  it("leaves an address it shares to another tenant's users while a tenant over its budget keeps reading from it", {
    timeout: 60_000,
  }, async () => {
    const fetch = isolate({ RATE_LIMIT_TENANT_QUERIES: "3/minute", RATE_LIMIT_API: "10/minute" });
    const sharedAddress = "10.87.0.5";
    const over = {
      Authorization: `Bearer ${await issueToken({ sub: `over-${RUN}`, tenant: tenantName("over-a") }, TEST_TOKENS)}`,
    };
    const overStatuses: number[] = [];
    const read = async () => overStatuses.push((await fetch("/metrics/overview", sharedAddress, over)).status);
    for (let i = 0; i < 4; i++) await read();
    // Once the tenant's object has said so, its refusals come from memory: nothing spent, no object asked.
    const callsBefore = limiters.calls();
    for (let i = 0; i < 16; i++) await read();
    expect(limiters.calls()).toBe(callsBefore);
    // Its tenant's 3 a minute, then its tenant's refusals: none of them the address's.
    expect(overStatuses).toEqual([200, 200, 200, ...Array(17).fill(429)]);

    const neighbour = {
      Authorization: `Bearer ${await issueToken({ sub: `neighbour-${RUN}`, tenant: tenantName("neighbour-b") }, TEST_TOKENS)}`,
    };
    // Its own tenant's 3 a minute, each from the address's 10 less the 3 the other tenant was admitted.
    const neighbourAnswers = [];
    for (let i = 0; i < 3; i++) neighbourAnswers.push(await fetch("/metrics/overview", sharedAddress, neighbour));
    expect(neighbourAnswers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(neighbourAnswers[0]!.headers.get("ratelimit")).toMatch(/^"api";r=6;/);
  });
});
