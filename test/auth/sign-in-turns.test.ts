import { describe, expect, it } from "vitest";
import { emptyTurnState, giveTurnBack, type TurnState, takeTurn, turnSettings } from "../../src/auth/sign-in-turns.ts";

/** RATE_LIMIT_LOGIN_USERNAME of wrangler.jsonc: 10/hour, so one check every 6 minutes. */
const SETTINGS = turnSettings({ limit: 10, windowMs: 3_600_000 });
const HOUR_MS = 3_600_000;
const SIX_MINUTES_MS = 360_000;
const USER_NETWORK = "ip:203.0.113.0/24";

interface Scenario {
  /** The network of the attacker's k-th request (one every 6 s: 10 a minute). */
  attackerNetwork: (k: number) => string;
  /** Extra attacker requests at these times (ms), from this network: one that strikes at openings. */
  extra?: { network: string; atMs: (state: TurnState) => number | undefined };
  userArrivesMs: number;
}

/**
 * An hour of the attack in simulated time, with the user arriving once and retrying when
 * `Retry-After` (whole seconds) says. On a tie the attacker goes first. The user's password is
 * right, so their turn is handed back; every attacker turn is a failed check that counts.
 */
function simulate({ attackerNetwork, extra, userArrivesMs }: Scenario) {
  const state = emptyTurnState();
  const failedChecksMs: number[] = [];
  let userNextMs: number | undefined = userArrivesMs;
  let userSignedInMs: number | undefined;
  let k = 0;
  for (let nowMs = 0; nowMs < HOUR_MS + 3 * SIX_MINUTES_MS; nowMs += 1000) {
    const extraAtMs = extra?.atMs(state);
    if (extra !== undefined && extraAtMs !== undefined && extraAtMs <= nowMs) {
      if (takeTurn(state, extra.network, nowMs, SETTINGS).turn !== undefined) failedChecksMs.push(nowMs);
    }
    if (nowMs % 6000 === 0) {
      if (takeTurn(state, attackerNetwork(k), nowMs, SETTINGS).turn !== undefined) failedChecksMs.push(nowMs);
      k++;
    }
    if (userNextMs !== undefined && userNextMs <= nowMs) {
      const decision = takeTurn(state, USER_NETWORK, nowMs, SETTINGS);
      if (decision.turn === undefined) userNextMs = nowMs + Math.ceil(decision.retryAfterMs / 1000) * 1000;
      else {
        giveTurnBack(state, decision.turn);
        userSignedInMs = nowMs;
        userNextMs = undefined;
      }
    }
  }
  const mostInAnHour = Math.max(
    ...failedChecksMs.map((startMs) => failedChecksMs.filter((ms) => ms >= startMs && ms < startMs + HOUR_MS).length),
  );
  return { failedChecks: failedChecksMs.length, mostInAnHour, waitMs: (userSignedInMs ?? Infinity) - userArrivesMs };
}

/** 1,000 addresses that take turns: /64s of one IPv6 /48, the network a tunnel broker gives anyone. */
const oneFortyEight = () => "ip6:2001:db8:bad::/48";
/** Arrival times across the hour, in whole seconds, at every phase of the attacker's 6 s cycle. */
const ARRIVALS_MS = Array.from({ length: 120 }, (_, i) => i * 29_000 + 1000 * (i % 6));

describe("sign-in turns for clients without a device cookie", () => {
  it("signs the user in within 6 minutes while 1,000 addresses send 10 wrong passwords a minute for an hour, and checks at most 10", () => {
    for (const userArrivesMs of ARRIVALS_MS) {
      const run = simulate({ attackerNetwork: oneFortyEight, userArrivesMs });
      expect(run.waitMs, `user arriving at ${userArrivesMs / 1000} s`).toBeLessThanOrEqual(SIX_MINUTES_MS);
      expect(run.mostInAnHour).toBeLessThanOrEqual(10);
    }
  });

  it("holds the bound when the attacker's 1,000 IPv4 addresses come from four /24s in turn", () => {
    // 250 addresses of each /24, one request each, round robin: every network soon has had its turn.
    const fourTwentyFours = (k: number) => `ip:198.51.${k % 4}.0/24`;
    for (const userArrivesMs of ARRIVALS_MS.filter((ms) => ms >= 4 * SIX_MINUTES_MS)) {
      const run = simulate({ attackerNetwork: fourTwentyFours, userArrivesMs });
      expect(run.waitMs, `user arriving at ${userArrivesMs / 1000} s`).toBeLessThanOrEqual(SIX_MINUTES_MS);
      expect(run.mostInAnHour).toBeLessThanOrEqual(10);
    }
  });

  it("lets an attacker's network kept fresh take one opening ahead of the user, not two", () => {
    // The attacker watches for each opening and strikes at it from a network that has had no turn.
    const striker = {
      network: "ip:192.0.2.0/24",
      atMs: (state: TurnState) => state.lastCheckMs + SETTINGS.spacingMs,
    };
    for (const userArrivesMs of ARRIVALS_MS) {
      const run = simulate({ attackerNetwork: oneFortyEight, extra: striker, userArrivesMs });
      expect(run.waitMs, `user arriving at ${userArrivesMs / 1000} s`).toBeLessThanOrEqual(2 * SIX_MINUTES_MS);
      expect(run.mostInAnHour).toBeLessThanOrEqual(10);
    }
  });

  it("lets a client that mistyped try again after one spacing when nobody else is waiting", () => {
    const state = emptyTurnState();
    expect(takeTurn(state, USER_NETWORK, 0, SETTINGS).turn).toBeDefined();
    expect(takeTurn(state, USER_NETWORK, 5000, SETTINGS)).toEqual({ retryAfterMs: SIX_MINUTES_MS - 5000 });
    expect(takeTurn(state, USER_NETWORK, SIX_MINUTES_MS, SETTINGS).turn).toBeDefined();
  });

  it("tells a client refused while a check may still be handed back to look again in 2 s, and then the full wait", () => {
    const state = emptyTurnState();
    takeTurn(state, USER_NETWORK, 0, SETTINGS);
    expect(takeTurn(state, "ip:198.51.100.0/24", 500, SETTINGS)).toEqual({ retryAfterMs: 1500 });
    expect(takeTurn(state, "ip:198.51.100.0/24", 2000, SETTINGS)).toEqual({ retryAfterMs: SIX_MINUTES_MS - 2000 });
  });

  it("hands a right password's turn back, so the next client does not wait for it", () => {
    const state = emptyTurnState();
    const turn = takeTurn(state, USER_NETWORK, 0, SETTINGS).turn!;
    giveTurnBack(state, turn);
    expect(takeTurn(state, "ip:198.51.100.0/24", 1000, SETTINGS).turn).toBeDefined();
  });
});
