import { describe, expect, it } from "vitest";
import { applyGrant, secondsUntil, type WindowState } from "../../src/rate-limit/window.ts";

describe("fixed window anchored at the first request", () => {
  it("grants exactly the limit within one window and reports what remains", () => {
    let state: WindowState | undefined;
    const granted: number[] = [];
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = applyGrant(state, 3, 60_000, 1_000 + i, 1);
      state = result.state;
      granted.push(result.grant.granted);
      remaining.push(result.grant.remaining);
    }
    expect(granted).toEqual([1, 1, 1, 0, 0]);
    expect(remaining).toEqual([2, 1, 0, 0, 0]);
    expect(state).toEqual({ windowStartMs: 1_000, count: 3 });
  });

  it("grants a lease of several permits, cut to what the window has left", () => {
    const first = applyGrant(undefined, 10, 60_000, 0, 4);
    expect(first.grant).toMatchObject({ granted: 4, remaining: 6 });
    const second = applyGrant(first.state, 10, 60_000, 1, 4);
    const third = applyGrant(second.state, 10, 60_000, 2, 4);
    expect(third.grant).toMatchObject({ granted: 2, remaining: 0 });
    expect(applyGrant(third.state, 10, 60_000, 3, 4).grant.granted).toBe(0);
  });

  it("resets exactly at the window's end, not a millisecond before", () => {
    let { state } = applyGrant(undefined, 1, 60_000, 10_000, 1);
    const justBefore = applyGrant(state, 1, 60_000, 69_999, 1);
    expect(justBefore.grant).toEqual({ granted: 0, limit: 1, remaining: 0, resetAtMs: 70_000 });
    state = justBefore.state;
    const atEnd = applyGrant(state, 1, 60_000, 70_000, 1);
    expect(atEnd.grant).toEqual({ granted: 1, limit: 1, remaining: 0, resetAtMs: 130_000 });
  });

  it("starts a fresh window when the clock goes backwards past the window start", () => {
    const { state } = applyGrant(undefined, 2, 60_000, 100_000, 1);
    expect(applyGrant(state, 2, 60_000, 50_000, 1).state).toEqual({ windowStartMs: 50_000, count: 1 });
  });

  it("rounds the wait up to whole seconds", () => {
    expect(secondsUntil(10_001, 10_000)).toBe(1);
    expect(secondsUntil(70_000, 10_000)).toBe(60);
    expect(secondsUntil(10_000, 10_000)).toBe(0);
  });
});
