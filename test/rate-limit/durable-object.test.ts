import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type AcquireRequest, type RateLimiter, RETURN_GRACE_MS } from "../../src/rate-limit/durable-object.ts";
import { LEASE_TTL_MS } from "../../src/rate-limit/lease.ts";

function limiterFor(name: string): DurableObjectStub<RateLimiter> {
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
}

/** Sets the object's own clock; returns a function that moves it. */
async function controlClock(stub: DurableObjectStub<RateLimiter>, startMs = Date.now()) {
  let nowMs = startMs;
  await runInDurableObject(stub, (instance) => {
    instance.clock = () => nowMs;
  });
  return (byMs: number) => {
    nowMs += byMs;
  };
}

const ask = (overrides: Partial<AcquireRequest> = {}): AcquireRequest => ({
  policy: "p",
  limit: 100,
  windowMs: 60_000,
  holder: "h1",
  wanted: 1,
  ...overrides,
});

describe("rate limiter Durable Object", () => {
  it("never over-grants to concurrent callers", async () => {
    const stub = limiterFor("do-test:concurrent");
    const grants = await Promise.all(
      Array.from({ length: 300 }, (_, i) => stub.acquire(ask({ limit: 25, holder: `h${i}` }))),
    );
    expect(grants.filter((grant) => grant.granted === 1)).toHaveLength(25);
    expect(
      grants.filter((grant) => grant.granted === 0).every((grant) => grant.remaining === 0 && grant.exhausted),
    ).toBe(true);
  });

  it("grants leases of several permits but never more than the limit in total", async () => {
    const stub = limiterFor("do-test:leases");
    const grants = await Promise.all(Array.from({ length: 60 }, () => stub.acquire(ask({ wanted: 7 }))));
    expect(grants.reduce((total, grant) => total + grant.granted, 0)).toBe(100);
    // One holder: each lease at most half of what is left, the last ones one permit each.
    expect(grants[0]!.granted).toBe(7);
    expect(grants.at(-1)!.granted).toBe(0);
  });

  it("keeps time itself: permits handed back under another window's stamp do not reopen the allowance", async () => {
    const stub = limiterFor("do-test:skew");
    const advance = await controlClock(stub);
    // Isolate A holds a lease of 5 (4 unspent); B spends the rest one permit at a time.
    const lease = await stub.acquire(ask({ limit: 10, wanted: 5, holder: "isolate-a" }));
    expect(lease.granted).toBe(5);
    while ((await stub.acquire(ask({ limit: 10, holder: "isolate-b" }))).granted > 0);
    // A's clock runs a window ahead or behind: the only time a caller can carry is the window its permits came from.
    for (const offsetMs of [60_000, -60_000, 1, -1]) {
      const returned = { windowStartMs: lease.windowStartMs + offsetMs, permits: 4 };
      const grant = await stub.acquire(ask({ limit: 10, holder: "isolate-a", returned }));
      expect(grant).toMatchObject({ granted: 0, windowStartMs: lease.windowStartMs });
      await stub.release("p", returned, "isolate-a");
      expect((await stub.acquire(ask({ limit: 10, holder: "isolate-b" }))).granted).toBe(0);
    }
    advance(lease.resetAfterMs - 1);
    expect((await stub.acquire(ask({ limit: 10, holder: "isolate-b" }))).granted).toBe(0);
    advance(1);
    const next = await stub.acquire(ask({ limit: 10, holder: "isolate-b" }));
    expect(next).toMatchObject({ granted: 1, windowStartMs: lease.windowStartMs + 60_000 });
  });

  it("opens a new window exactly when its own clock passes the end, and reports the reset relative to it", async () => {
    const stub = limiterFor("do-test:reset");
    const advance = await controlClock(stub);
    expect(await stub.acquire(ask({ limit: 1 }))).toMatchObject({ granted: 1, resetAfterMs: 60_000 });
    advance(59_999);
    expect(await stub.acquire(ask({ limit: 1 }))).toMatchObject({
      granted: 0,
      exhausted: true,
      resetAfterMs: 1,
      retryAfterMs: 1,
    });
    advance(1);
    expect(await stub.acquire(ask({ limit: 1 }))).toMatchObject({ granted: 1, resetAfterMs: 60_000 });
  });

  it("does not move its window back when its clock steps backwards", async () => {
    const stub = limiterFor("do-test:backwards");
    const advance = await controlClock(stub);
    await stub.acquire(ask({ limit: 1 }));
    advance(-10);
    expect(await stub.acquire(ask({ limit: 1 }))).toMatchObject({ granted: 0 });
  });

  it("takes back unspent permits of a lease and grants them again", async () => {
    const stub = limiterFor("do-test:return");
    const lease = await stub.acquire(ask({ limit: 10, wanted: 5 }));
    expect(lease).toMatchObject({ granted: 5, remaining: 5 });
    const next = await stub.acquire(
      ask({ limit: 10, wanted: 2, returned: { windowStartMs: lease.windowStartMs, permits: 4 } }),
    );
    expect(next).toMatchObject({ granted: 2, remaining: 7 });
  });

  it("refuses to take back more than a holder can still hold, or permits of another window", async () => {
    const stub = limiterFor("do-test:return-bounds");
    const lease = await stub.acquire(ask({ limit: 10, wanted: 3 }));
    await stub.release("p", { windowStartMs: lease.windowStartMs, permits: 1_000 }, "h1");
    await stub.release("p", { windowStartMs: lease.windowStartMs - 1, permits: 2 }, "h2");
    await stub.release("p", { windowStartMs: lease.windowStartMs, permits: 5 }, "stranger");
    expect(await stub.acquire(ask({ limit: 10, holder: "h3" }))).toMatchObject({ granted: 1, remaining: 8 });
  });

  it("refunds a counted attempt", async () => {
    const stub = limiterFor("do-test:refund");
    const first = await stub.acquire(ask({ limit: 1 }));
    await stub.release("p", { windowStartMs: first.windowStartMs, permits: 1 });
    expect(await stub.acquire(ask({ limit: 1 }))).toMatchObject({ granted: 1 });
  });

  it("says 'retry shortly', not 'exhausted', while another holder's lease may come back", async () => {
    const stub = limiterFor("do-test:soft");
    const advance = await controlClock(stub);
    expect(await stub.acquire(ask({ limit: 4, wanted: 2, holder: "a" }))).toMatchObject({ granted: 2 });
    expect(await stub.acquire(ask({ limit: 4, wanted: 2, holder: "b" }))).toMatchObject({ granted: 1 });
    expect(await stub.acquire(ask({ limit: 4, holder: "c" }))).toMatchObject({ granted: 1 });
    const refused = await stub.acquire(ask({ limit: 4, holder: "c" }));
    expect(refused).toMatchObject({ granted: 0, exhausted: false, retryAfterMs: LEASE_TTL_MS + RETURN_GRACE_MS });
    // Holder a's lease was never handed back (its isolate is gone): after the grace it counts as spent.
    advance(LEASE_TTL_MS + RETURN_GRACE_MS);
    expect(await stub.acquire(ask({ limit: 4, holder: "c" }))).toMatchObject({ granted: 0, exhausted: true });
  });

  it("writes each count through to SQLite, so a restarted object resumes it", async () => {
    const stub = limiterFor("do-test:persist");
    for (let i = 0; i < 3; i++) await stub.acquire(ask({ limit: 10, holder: `h${i}` }));
    const rows = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ policy: string; count: number }>("select policy, count from windows").toArray(),
    );
    expect(rows).toEqual([{ policy: "p", count: 3 }]);
    const resumed = await runInDurableObject(stub, async (_instance, state) => {
      const { RateLimiter: Limiter } = await import("../../src/rate-limit/durable-object.ts");
      return new Limiter(state, env).acquire(ask({ limit: 10, holder: "h9" }));
    });
    expect(resumed).toMatchObject({ granted: 1, remaining: 6 });
  });

  it("keeps separate windows per policy in one object", async () => {
    const stub = limiterFor("do-test:policies");
    await stub.acquire(ask({ policy: "a", limit: 1 }));
    expect(await stub.acquire(ask({ policy: "a", limit: 1 }))).toMatchObject({ granted: 0 });
    expect(await stub.acquire(ask({ policy: "b", limit: 1 }))).toMatchObject({ granted: 1 });
  });

  it("schedules an alarm that deletes expired windows and leaves no stale rows", async () => {
    const stub = limiterFor("do-test:alarm");
    const advance = await controlClock(stub, Date.now() - 10 * 60_000);
    await stub.acquire(ask({ policy: "expired", limit: 5 }));
    advance(10 * 60_000);
    await stub.acquire(ask({ policy: "live", limit: 5, windowMs: 3_600_000 }));
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).not.toBeNull();

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const rows = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ policy: string }>("select policy from windows").toArray(),
    );
    expect(rows).toEqual([{ policy: "live" }]);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());
  });

  it("empties its storage entirely once every window has expired, and still counts afterwards", async () => {
    const stub = limiterFor("do-test:empty");
    const advance = await controlClock(stub, Date.now() - 10 * 60_000);
    await stub.acquire(ask({ limit: 5 }));
    advance(10 * 60_000);
    await runDurableObjectAlarm(stub);
    const tables = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("select name from sqlite_master where type = 'table' and name = 'windows'").toArray(),
    );
    expect(tables).toEqual([]);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
    expect(await stub.acquire(ask({ limit: 5 }))).toMatchObject({ granted: 1, remaining: 4 });
  });
});
