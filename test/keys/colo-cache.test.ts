import { afterEach, describe, expect, it, vi } from "vitest";
import { coloCachedSource, type SharedCache } from "../../src/keys/colo-cache.ts";
import { type RevocationBatch, RevocationCache } from "../../src/keys/revocations.ts";
import { testClock } from "../support/isolate.ts";

const NOW_MS = 1_800_000_000_000;
/** A data center's cache of its own: the real Cache API, one name per test. */
const dataCenterCache = async (): Promise<SharedCache> =>
  caches.open(`colo-${crypto.randomUUID()}`) as Promise<SharedCache>;

describe("revocation list fan-out through the data center's cache", () => {
  afterEach(() => vi.restoreAllMocks());

  it("serves 1,000 isolates of one data center with one object call per page and 10 s", async () => {
    const clock = testClock(NOW_MS);
    const cache = await dataCenterCache();
    let calls = 0;
    const registry = async (_tenant: string, afterSeq: number): Promise<RevocationBatch> => {
      calls++;
      return {
        seq: 3,
        entries: afterSeq < 3 ? [{ seq: 3, kind: "key", subject: "leaked", revokedAtMs: NOW_MS - 1 }] : [],
        more: false,
      };
    };
    const isolates = Array.from(
      { length: 1_000 },
      () =>
        new RevocationCache({
          source: coloCachedSource({ source: registry, cache, clock: clock.now }),
          clock: clock.now,
        }),
    );
    for (const isolate of isolates)
      expect((await isolate.current("acme", () => {})).keyRevoked({ id: "leaked", tenant: "acme" })).toBe(true);
    expect(calls).toBe(1);
    clock.advance(10_000);
    for (const isolate of isolates.slice(0, 100)) await isolate.current("acme", () => {});
    expect(calls).toBe(1);
    clock.advance(50_000);
    for (const isolate of isolates) await isolate.current("acme", () => {});
    // The copies were 60 s old: one more call for the page after seq 3, then the cache again.
    expect(calls).toBe(2);
  });

  it("counts a copy's age from when the object answered, so a cached answer never stretches the 45 s bound", async () => {
    const clock = testClock(NOW_MS);
    const cache = await dataCenterCache();
    let revoked = false;
    const registry = async (): Promise<RevocationBatch> => ({
      seq: revoked ? 1 : 0,
      entries: revoked ? [{ seq: 1, kind: "key", subject: "k", revokedAtMs: NOW_MS }] : [],
      more: false,
    });
    const source = coloCachedSource({ source: registry, cache, clock: clock.now });
    // One isolate fills the cache; another reads that answer 9 s later.
    await new RevocationCache({ source, clock: clock.now }).current("acme", () => {});
    clock.advance(9_000);
    const late = new RevocationCache({ source, clock: clock.now });
    expect((await late.current("acme", () => {})).keyRevoked({ id: "k", tenant: "acme" })).toBe(false);
    revoked = true;
    // 45 s after the answer was produced (36 s after this isolate read it), the copy is too old: it must ask.
    clock.advance(36_000);
    expect((await late.current("acme", () => {})).keyRevoked({ id: "k", tenant: "acme" })).toBe(true);
  });

  it("ignores a cached answer made by a clock ahead of this one, and one older than 10 s", async () => {
    const cache = await dataCenterCache();
    let calls = 0;
    const registry = async (): Promise<RevocationBatch> => {
      calls++;
      return { seq: 0, entries: [], more: false };
    };
    await coloCachedSource({ source: registry, cache, clock: () => NOW_MS + 60_000 })("acme", 0);
    await coloCachedSource({ source: registry, cache, clock: () => NOW_MS })("acme", 0);
    expect(calls).toBe(2);
    await coloCachedSource({ source: registry, cache, clock: () => NOW_MS + 10_000 })("acme", 0);
    expect(calls).toBe(3);
  });

  it("asks the object when the cache fails, instead of failing the request", async () => {
    const broken: SharedCache = {
      match: () => Promise.reject(new Error("cache down")),
      put: () => Promise.reject(new Error("cache down")),
    };
    const registry = async (): Promise<RevocationBatch> => ({
      seq: 1,
      entries: [{ seq: 1, kind: "key", subject: "k", revokedAtMs: 0 }],
      more: false,
    });
    const set = await new RevocationCache({ source: coloCachedSource({ source: registry, cache: broken }) }).current(
      "acme",
      () => {},
    );
    expect(set.keyRevoked({ id: "k", tenant: "acme" })).toBe(true);
  });
});
