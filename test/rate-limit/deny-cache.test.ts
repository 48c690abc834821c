import { describe, expect, it } from "vitest";
import { DenyCache } from "../../src/rate-limit/deny-cache.ts";

describe("deny cache", () => {
  it("refuses a blocked key until its time, and forgets it then", () => {
    const cache = new DenyCache();
    cache.block("api:ip:192.0.2.1", 2_000);
    expect(cache.blockedUntil("api:ip:192.0.2.1", 1_999)).toBe(2_000);
    expect(cache.blockedUntil("api:ip:192.0.2.1", 2_000)).toBeUndefined();
    expect(cache.blockedUntil("api:ip:192.0.2.2", 0)).toBeUndefined();
  });

  it("holds at most its bound when a flood comes from more addresses: the oldest refusal goes first", () => {
    const cache = new DenyCache(100);
    for (let i = 0; i < 250; i++) cache.block(`api:ip:198.51.100.${i}`, 60_000);
    const held = Array.from({ length: 250 }, (_, i) => cache.blockedUntil(`api:ip:198.51.100.${i}`, 0) !== undefined);
    expect(held.filter(Boolean)).toHaveLength(100);
    expect(held.slice(150).every(Boolean)).toBe(true);
  });

  it("renews a refusal already held without evicting another", () => {
    const cache = new DenyCache(2);
    cache.block("a", 1_000);
    cache.block("b", 1_000);
    cache.block("a", 5_000);
    expect(cache.blockedUntil("a", 0)).toBe(5_000);
    expect(cache.blockedUntil("b", 0)).toBe(1_000);
  });
});
