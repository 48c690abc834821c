import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RateLimiter } from "../../src/rate-limit/durable-object.ts";

function limiterFor(name: string): DurableObjectStub<RateLimiter> {
  return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
}

describe("rate limiter Durable Object", () => {
  it("never over-admits concurrent hits", async () => {
    const stub = limiterFor("do-test:concurrent");
    const now = Date.now();
    const decisions = await Promise.all(Array.from({ length: 300 }, () => stub.hit("p", 25, 60_000, now)));
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(25);
    expect(decisions.filter((decision) => !decision.allowed).every((decision) => decision.remaining === 0)).toBe(true);
  });

  it("writes each admitted count through to SQLite, so a restarted object resumes it", async () => {
    const stub = limiterFor("do-test:persist");
    const now = Date.now();
    for (let i = 0; i < 3; i++) await stub.hit("p", 10, 60_000, now);
    const rows = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ policy: string; count: number }>("select policy, count from windows").toArray(),
    );
    expect(rows).toEqual([{ policy: "p", count: 3 }]);
    // A fresh instance over the same storage reads the count back.
    const resumed = await runInDurableObject(stub, async (_instance, state) => {
      const { RateLimiter: Limiter } = await import("../../src/rate-limit/durable-object.ts");
      return new Limiter(state, env).hit("p", 10, 60_000, now);
    });
    expect(resumed).toMatchObject({ allowed: true, remaining: 6 });
  });

  it("keeps separate windows per policy in one object", async () => {
    const stub = limiterFor("do-test:policies");
    const now = Date.now();
    await stub.hit("a", 1, 60_000, now);
    expect(await stub.hit("a", 1, 60_000, now)).toMatchObject({ allowed: false });
    expect(await stub.hit("b", 1, 60_000, now)).toMatchObject({ allowed: true });
  });

  it("schedules an alarm that deletes expired windows and leaves no stale rows", async () => {
    const stub = limiterFor("do-test:alarm");
    const longAgo = Date.now() - 10 * 60_000;
    await stub.hit("expired", 5, 60_000, longAgo);
    await stub.hit("live", 5, 3_600_000, Date.now());
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).not.toBeNull();

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const rows = await runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<{ policy: string }>("select policy from windows").toArray());
    expect(rows).toEqual([{ policy: "live" }]);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());
  });

  it("empties its storage entirely once every window has expired, and still counts afterwards", async () => {
    const stub = limiterFor("do-test:empty");
    await stub.hit("p", 5, 60_000, Date.now() - 10 * 60_000);
    await runDurableObjectAlarm(stub);
    const tables = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("select name from sqlite_master where type = 'table' and name = 'windows'").toArray(),
    );
    expect(tables).toEqual([]);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
    expect(await stub.hit("p", 5, 60_000, Date.now())).toMatchObject({ allowed: true, remaining: 4 });
  });
});
