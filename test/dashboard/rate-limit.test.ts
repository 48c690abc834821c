import { describe, expect, it } from "vitest";
import { nextRefresh, parseRateLimit, reserveFor } from "../../dashboard/src/rate-limit.ts";

const BASE_MS = 15_000;

describe("dashboard RateLimit header parsing", () => {
  it("reads the API's draft-10 fields, with the quota from RateLimit-Policy", () => {
    expect(parseRateLimit('"api";r=42;t=17', '"api";q=100;w=60')).toEqual([
      { policy: "api", remaining: 42, resetSeconds: 17, quota: 100 },
    ]);
  });

  it("reads every limit when several apply (per IP and per key), appended as one list", () => {
    expect(parseRateLimit('"api";r=42;t=17, "api-key";r=3;t=50', '"api";q=100;w=60, "api-key";q=10;w=60')).toEqual([
      { policy: "api", remaining: 42, resetSeconds: 17, quota: 100 },
      { policy: "api-key", remaining: 3, resetSeconds: 50, quota: 10 },
    ]);
  });

  it("skips malformed items and tolerates a missing policy field", () => {
    expect(parseRateLimit('"api";r=-1;t=5, garbage, "x";r=1e3;t=1, "ok";r=5;t=9', null)).toEqual([
      { policy: "ok", remaining: 5, resetSeconds: 9 },
    ]);
    expect(parseRateLimit(null, null)).toEqual([]);
    expect(parseRateLimit('"a,b";r=2;t=3', '"a,b";q=9;w=60')).toEqual([
      { policy: "a,b", remaining: 2, resetSeconds: 3, quota: 9 },
    ]);
  });
});

describe("dashboard refresh pacing", () => {
  const item = (remaining: number, resetSeconds: number, quota = 100) => ({
    policy: "api",
    remaining,
    resetSeconds,
    quota,
  });

  it("refreshes at the base interval while permits are plenty, or when the API sends no RateLimit", () => {
    expect(nextRefresh([item(95, 50)], BASE_MS)).toEqual({ delayMs: BASE_MS });
    expect(nextRefresh([], BASE_MS)).toEqual({ delayMs: BASE_MS });
  });

  it("slows down as r falls: the delay grows monotonically as the remaining permits shrink", () => {
    const delays = [60, 40, 30, 25, 22, 21].map((remaining) => nextRefresh([item(remaining, 59)], BASE_MS).delayMs);
    for (let index = 1; index < delays.length; index++)
      expect(delays[index]).toBeGreaterThanOrEqual(delays[index - 1]!);
    expect(delays.at(-1)).toBeGreaterThan(BASE_MS);
  });

  it("waits past the reset once only the reserve is left, and names the limit that set the pace", () => {
    const limited = item(reserveFor(item(0, 0)), 42);
    expect(nextRefresh([limited], BASE_MS)).toEqual({ delayMs: 43_000, limitedBy: limited });
    expect(nextRefresh([item(0, 7, 10)], BASE_MS)).toEqual({ delayMs: 15_000 });
    expect(nextRefresh([item(0, 30, 10)], BASE_MS).delayMs).toBe(31_000);
  });

  it("never spends the reserve: simulated over a window, the timer alone never makes a request the limit would refuse", () => {
    for (const quota of [3, 10, 60, 100, 1000]) {
      const windowSeconds = 60;
      let remaining = quota;
      let windowEndMs = windowSeconds * 1000;
      let nowMs = 0;
      while (nowMs < 10 * windowSeconds * 1000) {
        if (nowMs >= windowEndMs) {
          remaining = quota;
          windowEndMs += windowSeconds * 1000;
        }
        expect(remaining, `quota ${quota} at ${nowMs} ms`).toBeGreaterThan(0);
        remaining -= 1;
        const resetSeconds = Math.ceil((windowEndMs - nowMs) / 1000);
        nowMs += nextRefresh([item(remaining, resetSeconds, quota)], BASE_MS).delayMs;
      }
    }
  });
});
