import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyRegistry, USAGE_SHARDS, usageShard } from "../../src/keys/registry.ts";
import { MINUTE_MS, UsageRecorder } from "../../src/keys/usage.ts";
import { adminRequest, isolateApp, issueKey, testClock, uniqueName } from "../support/isolate.ts";

interface Listed {
  id: string;
  last_used_at: string | null;
}

describe("key usage recorder", () => {
  it("sends each key's minute once, in batches at most every flush interval, and retries a failed batch", async () => {
    const clock = testClock(10 * MINUTE_MS + 5_000);
    const batches: [string, number][][] = [];
    let failing = false;
    const recorder = new UsageRecorder({
      sink: async (entries) => {
        if (failing) throw new Error("unreachable");
        batches.push(entries);
      },
      clock: clock.now,
      flushIntervalMs: 10_000,
    });
    const pending: Promise<unknown>[] = [];
    const waitUntil = (promise: Promise<unknown>) => void pending.push(promise);
    const settle = () => Promise.all(pending.splice(0));

    recorder.record("a", waitUntil);
    await settle();
    for (let i = 0; i < 100; i++) recorder.record("a", waitUntil);
    recorder.record("b", waitUntil);
    await settle();
    expect(batches).toEqual([[["a", 10 * MINUTE_MS]]]);

    clock.advance(10_000);
    recorder.record("a", waitUntil);
    await settle();
    expect(batches).toEqual([[["a", 10 * MINUTE_MS]], [["b", 10 * MINUTE_MS]]]);

    clock.advance(MINUTE_MS);
    failing = true;
    const quiet = console.error;
    console.error = () => {};
    recorder.record("a", waitUntil);
    await settle();
    console.error = quiet;
    failing = false;
    clock.advance(10_000);
    recorder.record("b", waitUntil);
    await settle();
    expect(batches.at(-1)).toEqual([
      ["a", 11 * MINUTE_MS],
      ["b", 11 * MINUTE_MS],
    ]);
  });
});

describe("last used, end to end", () => {
  it("shows a key used a minute ago at minute precision, and nothing for a key never used", async () => {
    const clock = testClock();
    const isolate = isolateApp(clock);
    const [usedId, unusedId] = [uniqueName("used"), uniqueName("unused")];
    const used = await issueKey(isolate, { id: usedId, tenant: "acme" });
    await issueKey(isolate, { id: unusedId, tenant: "acme" });
    const usedAtMs = clock.now();
    expect(
      (await isolate("/auth/me", { headers: { "X-API-Key": used, "CF-Connecting-IP": "10.65.0.1" } })).status,
    ).toBe(200);

    clock.advance(MINUTE_MS);
    const listing = await adminRequest(isolate, "GET", "/admin/keys?tenant=acme");
    expect(listing.status).toBe(200);
    const keys = ((await listing.json()) as { keys: Listed[] }).keys;
    const minuteOfUse = new Date(usedAtMs - (usedAtMs % MINUTE_MS)).toISOString();
    expect(keys.find((key) => key.id === usedId)).toMatchObject({ last_used_at: minuteOfUse });
    expect(keys.find((key) => key.id === unusedId)).toMatchObject({ last_used_at: null });
  });
});

describe("last used across usage shards", () => {
  it("lists the latest minute any shard holds, the global object's older minutes included", async () => {
    const isolate = isolateApp(testClock());
    const id = uniqueName("sharded");
    await issueKey(isolate, { id, tenant: "acme" });
    await keyRegistry(env.KEY_REGISTRY).recordUsage([[id, 60_000]]);
    await usageShard(env.KEY_REGISTRY, 0).recordUsage([[id, 180_000]]);
    await usageShard(env.KEY_REGISTRY, USAGE_SHARDS - 1).recordUsage([[id, 120_000]]);
    const listing = await adminRequest(isolate, "GET", "/admin/keys?tenant=acme");
    const keys = ((await listing.json()) as { keys: Listed[] }).keys;
    expect(keys.find((key) => key.id === id)).toMatchObject({ last_used_at: new Date(180_000).toISOString() });
  });
});
