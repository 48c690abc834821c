import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RateLimiter } from "../../src/rate-limit/durable-object.ts";

function limiterFor(name: string): DurableObjectStub<RateLimiter> {
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
}

describe("rate limiter Durable Object", () => {
  it("never over-grants to concurrent callers", async () => {
    const stub = limiterFor("do-test:concurrent");
    const now = Date.now();
    const grants = await Promise.all(Array.from({ length: 300 }, () => stub.acquire("p", 25, 60_000, now, 1)));
    expect(grants.filter((grant) => grant.granted === 1)).toHaveLength(25);
    expect(grants.filter((grant) => grant.granted === 0).every((grant) => grant.remaining === 0)).toBe(true);
  });

  it("grants leases of several permits but never more than the limit in total", async () => {
    const stub = limiterFor("do-test:leases");
    const now = Date.now();
    const grants = await Promise.all(Array.from({ length: 40 }, () => stub.acquire("p", 100, 60_000, now, 7)));
    expect(grants.reduce((total, grant) => total + grant.granted, 0)).toBe(100);
    expect(grants.map((grant) => grant.granted).filter((granted) => granted > 0)).toEqual([...Array<number>(14).fill(7), 2]);
  });

  it("writes each admitted count through to SQLite, so a restarted object resumes it", async () => {
    const stub = limiterFor("do-test:persist");
    const now = Date.now();
    for (let i = 0; i < 3; i++) await stub.acquire("p", 10, 60_000, now, 1);
    const rows = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ policy: string; count: number }>("select policy, count from windows").toArray(),
    );
    expect(rows).toEqual([{ policy: "p", count: 3 }]);
    // A fresh instance over the same storage reads the count back.
    const resumed = await runInDurableObject(stub, async (_instance, state) => {
      const { RateLimiter: Limiter } = await import("../../src/rate-limit/durable-object.ts");
      return new Limiter(state, env).acquire("p", 10, 60_000, now, 1);
    });
    expect(resumed).toMatchObject({ granted: 1, remaining: 6 });
  });

  it("keeps separate windows per policy in one object", async () => {
    const stub = limiterFor("do-test:policies");
    const now = Date.now();
    await stub.acquire("a", 1, 60_000, now, 1);
    expect(await stub.acquire("a", 1, 60_000, now, 1)).toMatchObject({ granted: 0 });
    expect(await stub.acquire("b", 1, 60_000, now, 1)).toMatchObject({ granted: 1 });
  });

  it("schedules an alarm that deletes expired windows and leaves no stale rows", async () => {
    const stub = limiterFor("do-test:alarm");
    const longAgo = Date.now() - 10 * 60_000;
    await stub.acquire("expired", 5, 60_000, longAgo, 1);
    await stub.acquire("live", 5, 3_600_000, Date.now(), 1);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).not.toBeNull();

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const rows = await runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<{ policy: string }>("select policy from windows").toArray());
    expect(rows).toEqual([{ policy: "live" }]);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());
  });

  it("empties its storage entirely once every window has expired, and still counts afterwards", async () => {
    const stub = limiterFor("do-test:empty");
    await stub.acquire("p", 5, 60_000, Date.now() - 10 * 60_000, 1);
    await runDurableObjectAlarm(stub);
    const tables = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("select name from sqlite_master where type = 'table' and name = 'windows'").toArray(),
    );
    expect(tables).toEqual([]);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
    expect(await stub.acquire("p", 5, 60_000, Date.now(), 1)).toMatchObject({ granted: 1, remaining: 4 });
  });
});
