import { describe, expect, it } from "vitest";
import { parseRateNotation, policyHeader, rateLimitHeader, ratePolicy } from "../../src/rate-limit/policy.ts";

describe("rate policy notation", () => {
  it.each([
    ["100/minute", 100, 60_000],
    ["5/minute", 5, 60_000],
    ["1000/hour", 1000, 3_600_000],
    ["10/second", 10, 1_000],
    ["2/day", 2, 86_400_000],
    [" 7 / Minutes ", 7, 60_000],
  ])("reads %j", (notation, limit, windowMs) => {
    expect(parseRateNotation(notation)).toEqual({ limit, windowMs });
  });

  it.each(["", "100", "100/min", "0/minute", "-1/minute", "1.5/minute", "100/fortnight", "100 per minute", "1e3/hour"])(
    "refuses %j",
    (notation) => {
      expect(() => parseRateNotation(notation)).toThrow();
    },
  );

  it("renders draft-10 RateLimit-Policy and RateLimit fields", () => {
    const policy = ratePolicy("permin", "100/minute", "open");
    expect(policyHeader(policy)).toBe('"permin";q=100;w=60');
    expect(rateLimitHeader(policy, 42, 17)).toBe('"permin";r=42;t=17');
  });
});
