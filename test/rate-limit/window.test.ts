import { describe, expect, it } from "vitest";
import { currentWindow, grantSize, secondsUntil } from "../../src/rate-limit/window.ts";

describe("fixed window on the object's clock", () => {
  it("keeps the window until its end, not a millisecond less, then opens a fresh one", () => {
    const window = { windowStartMs: 10_000, count: 7 };
    expect(currentWindow(window, 60_000, 69_999)).toBe(window);
    expect(currentWindow(window, 60_000, 70_000)).toEqual({ windowStartMs: 70_000, count: 0 });
  });

  it("never opens a new window when the clock reads earlier than the window start", () => {
    const window = { windowStartMs: 100_000, count: 100 };
    expect(currentWindow(window, 60_000, 99_990)).toBe(window);
    expect(currentWindow(window, 60_000, 0)).toBe(window);
  });

  it("opens the first window at the first request", () => {
    expect(currentWindow(undefined, 60_000, 5)).toEqual({ windowStartMs: 5, count: 0 });
  });
});

describe("grant size", () => {
  it("grants what is asked while plenty is left", () => {
    expect(grantSize(100, 0, 5, 1)).toBe(5);
  });

  it("never grants past the limit", () => {
    expect(grantSize(100, 99, 5, 1)).toBe(1);
    expect(grantSize(100, 100, 5, 1)).toBe(0);
    expect(grantSize(100, 120, 5, 1)).toBe(0);
  });

  it("caps a lease at half of what is left shared among the holders", () => {
    expect(grantSize(100, 60, 50, 1)).toBe(20);
    expect(grantSize(100, 60, 50, 4)).toBe(5);
    expect(grantSize(100, 60, 50, 25)).toBe(1);
  });

  it("decides the last permits one by one", () => {
    expect(grantSize(1000, 997, 50, 1)).toBe(1);
  });
});

describe("seconds until reset", () => {
  it("rounds the wait up to whole seconds", () => {
    expect(secondsUntil(10_001, 10_000)).toBe(1);
    expect(secondsUntil(70_000, 10_000)).toBe(60);
    expect(secondsUntil(10_000, 10_000)).toBe(0);
  });
});
