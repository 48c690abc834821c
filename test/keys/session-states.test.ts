import { afterEach, describe, expect, it, vi } from "vitest";
import { AppError } from "../../src/errors.ts";
import { type FamilySource, SessionStates } from "../../src/keys/session-states.ts";
import { testClock } from "../support/isolate.ts";

const NOW_MS = 1_800_000_000_000;
const session = (subject: string, familyId: string, generation: number, authTimeSeconds = NOW_MS / 1000 - 3_600) => ({
  subject,
  familyId,
  generation,
  authTimeSeconds,
});
const noWait = () => {};

describe("session states (each isolate's copy of its users' families)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("accepts the current generation and a later one, and refuses an older one or an unknown family", async () => {
    const states = new SessionStates({ source: async () => [["family-a", 3]], clock: testClock(NOW_MS).now });
    expect(await states.accepts(session("acme_analyst", "family-a", 3), noWait)).toBe(true);
    // Rotated on another isolate after this copy was taken: the owner granted it.
    expect(await states.accepts(session("acme_analyst", "family-a", 4), noWait)).toBe(true);
    expect(await states.accepts(session("acme_analyst", "family-a", 2), noWait)).toBe(false);
    expect(await states.accepts(session("acme_analyst", "family-gone", 1), noWait)).toBe(false);
  });

  it("asks the owner again before refusing a family signed in after its copy was taken", async () => {
    const clock = testClock(NOW_MS);
    let live: [string, number][] = [];
    const states = new SessionStates({ source: async () => live, clock: clock.now });
    expect(await states.accepts(session("acme_analyst", "older", 1), noWait)).toBe(false);
    live = [["signed-in-elsewhere", 1]];
    clock.advance(1_000);
    expect(
      await states.accepts(session("acme_analyst", "signed-in-elsewhere", 1, Math.floor(clock.now() / 1000)), noWait),
    ).toBe(true);
  });

  it("does not bring back a family this isolate ended when an answer asked for earlier still lists it", async () => {
    const clock = testClock(NOW_MS);
    const states = new SessionStates({ source: async () => [["family-a", 1]], clock: clock.now });
    expect(await states.accepts(session("acme_analyst", "family-a", 1), noWait)).toBe(true);
    states.noteEnded("acme_analyst", "family-a");
    clock.advance(45_000);
    expect(await states.accepts(session("acme_analyst", "family-a", 1), noWait)).toBe(false);
  });

  it("an unreachable user object refuses only that user's sessions, with a 503 after the copy's bound, and never hangs", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const clock = testClock(NOW_MS);
    let attackerReachable = true;
    const source: FamilySource = (subject) => {
      if (subject === "attacker" && !attackerReachable) return new Promise(() => {});
      return Promise.resolve([[`${subject}-family`, 1]]);
    };
    const states = new SessionStates({ source, clock: clock.now, timeoutMs: 50 });
    expect(await states.accepts(session("attacker", "attacker-family", 1), noWait)).toBe(true);
    attackerReachable = false;
    clock.advance(30_000);
    // Within the bound the copy still answers for the attacker.
    expect(await states.accepts(session("attacker", "attacker-family", 1), noWait)).toBe(true);
    clock.advance(15_000);
    const startedMs = Date.now();
    const failure = await states
      .accepts(session("attacker", "attacker-family", 1), noWait)
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).problem).toMatchObject({ status: 503, code: "session-state-unavailable" });
    expect(Date.now() - startedMs).toBeLessThan(1_000);
    // The victim, another user on the same isolate, is answered as before.
    for (const victim of ["victim_a", "victim_b"])
      expect(await states.accepts(session(victim, `${victim}-family`, 1), noWait)).toBe(true);
  });

  it("keeps at most maxUsers copies however many users one isolate sees", async () => {
    const asked: string[] = [];
    const states = new SessionStates({
      source: async (subject) => {
        asked.push(subject);
        return [[`${subject}-family`, 1]];
      },
      clock: testClock(NOW_MS).now,
      maxUsers: 100,
    });
    for (let i = 0; i < 1_000; i++) await states.accepts(session(`user_${i}`, `user_${i}-family`, 1), noWait);
    asked.length = 0;
    // The 100 most recent are still held; the first was dropped and has to be asked for again.
    await states.accepts(session("user_999", "user_999-family", 1), noWait);
    await states.accepts(session("user_900", "user_900-family", 1), noWait);
    expect(asked).toEqual([]);
    await states.accepts(session("user_0", "user_0-family", 1), noWait);
    expect(asked).toEqual(["user_0"]);
  });
});
