import { describe, expect, it } from "vitest";
import { applyHit, secondsUntil, type WindowState } from "../../src/rate-limit/window.ts";

describe("fixed window anchored at the first request", () => {
  it("admits exactly the limit within one window and reports what remains", () => {
    let state: WindowState | undefined;
    const allowed: boolean[] = [];
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = applyHit(state, 3, 60_000, 1_000 + i);
      state = result.state;
      allowed.push(result.decision.allowed);
      remaining.push(result.decision.remaining);
    }
    expect(allowed).toEqual([true, true, true, false, false]);
    expect(remaining).toEqual([2, 1, 0, 0, 0]);
    expect(state).toEqual({ windowStartMs: 1_000, count: 3 });
  });

  it("resets exactly at the window's end, not a millisecond before", () => {
    let { state } = applyHit(undefined, 1, 60_000, 10_000);
    const justBefore = applyHit(state, 1, 60_000, 69_999);
    expect(justBefore.decision).toEqual({ allowed: false, limit: 1, remaining: 0, resetAtMs: 70_000 });
    state = justBefore.state;
    const atEnd = applyHit(state, 1, 60_000, 70_000);
    expect(atEnd.decision).toEqual({ allowed: true, limit: 1, remaining: 0, resetAtMs: 130_000 });
  });

  it("starts a fresh window when the clock goes backwards past the window start", () => {
    const { state } = applyHit(undefined, 2, 60_000, 100_000);
    expect(applyHit(state, 2, 60_000, 50_000).state).toEqual({ windowStartMs: 50_000, count: 1 });
  });

  it("rounds the wait up to whole seconds", () => {
    expect(secondsUntil(10_001, 10_000)).toBe(1);
    expect(secondsUntil(70_000, 10_000)).toBe(60);
    expect(secondsUntil(10_000, 10_000)).toBe(0);
  });
});
