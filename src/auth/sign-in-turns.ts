/**
 * The password checks one username allows clients without a device cookie for it, as pure
 * arithmetic (the object that keeps it is sign-in-turns-object.ts). An hourly allowance shared by
 * everyone is a lockout: whoever spends it first — an attacker at the top of each hour — keeps the
 * user out until the next hour. Here the allowance is a lane instead:
 * - **One check at a time, evenly spaced**: a check may begin only `spacingMs` (the policy's window
 *   divided by its limit: 6 minutes for 10/hour) after the previous one that counts. So no hour
 *   ever holds more than the policy's limit of failed checks, whoever sends them, and the lane
 *   reopens every `spacingMs` however hard it is pushed. A right password hands its turn back.
 * - **Networks that have had no turn go first.** A client whose network (IPv4 /24, IPv6 /48) has
 *   had no check for this username within the policy's window, and is refused because the lane is
 *   closed, holds the lane's next opening for such networks for `holdMs`. An attacker sending from
 *   networks that have already had their turn cannot take that opening: the user signs in when the
 *   lane next opens, at most `spacingMs` after asking, provided they come back when `Retry-After`
 *   says.
 *
 * Why this and not per-network buckets or a lockout: with no device cookie, an attacker's request
 * and the user's differ only in the network they come from. A rule that promises a check within N
 * minutes to a network it has not seen makes the same promise to an attacker who brings a new
 * network each time, so no design bounds both the user's wait and the guesses against an attacker
 * with unlimited fresh networks. Per-network buckets give such an attacker one bucket per network;
 * this lane gives every attacker at most the policy's limit, and gives each of the attacker's
 * networks that has not had a turn in the window one chance to take an opening ahead of the user:
 * the wait is at most `spacingMs` × (1 + such networks). A client whose own network failed a check
 * within the window has no priority: under attack it may wait until that window has passed.
 */

export interface TurnSettings {
  /** Least time between the starts of two checks that count: the policy's window / its limit. */
  spacingMs: number;
  /** How long a network counts as having had its turn: the policy's window. */
  memoryMs: number;
  /** How long an opening is held for networks that have had no turn, once one of them asked. */
  holdMs: number;
  /**
   * How long a check that began may still be handed back (its password right): a client refused in
   * that time is told to look again then, not when the lane would next open.
   */
  settleMs: number;
}

export interface TurnState {
  /** Start of the latest check that counts (failed, or still in progress); -Infinity for none. */
  lastCheckMs: number;
  /** Network key → start of its latest check that counts, for checks within `memoryMs`. */
  networks: Record<string, number>;
  /** Until when the opening is held for networks without a turn in the window. */
  heldUntilMs: number;
}

/** A check that began: what to restore if its password turns out right. */
export interface Turn {
  network: string;
  startedMs: number;
  previousCheckMs: number;
  previousNetworkCheckMs?: number;
}

/** A turn when the check may begin; otherwise how long until this client's next chance. */
export interface TurnDecision {
  turn?: Turn;
  retryAfterMs: number;
}

export const emptyTurnState = (): TurnState => ({
  lastCheckMs: Number.NEGATIVE_INFINITY,
  networks: {},
  heldUntilMs: Number.NEGATIVE_INFINITY,
});

/** A password check and the hand-back after it: PBKDF2 and one object call, with room to spare. */
const CHECK_SETTLES_MS = 2000;

/**
 * The settings for a policy of `limit` checks per `windowMs`: the opening is held for a tenth of
 * the spacing (36 s for 10/hour), long enough for a client that retries when told to.
 */
export function turnSettings({ limit, windowMs }: { limit: number; windowMs: number }): TurnSettings {
  const spacingMs = windowMs / limit;
  return { spacingMs, memoryMs: windowMs, holdMs: spacingMs / 10, settleMs: CHECK_SETTLES_MS };
}

/** Decides whether a check for `network` may begin at `nowMs`, updating `state` when it may. */
export function takeTurn(state: TurnState, network: string, nowMs: number, settings: TurnSettings): TurnDecision {
  for (const [key, checkedMs] of Object.entries(state.networks))
    if (checkedMs <= nowMs - settings.memoryMs) delete state.networks[key];
  const previousNetworkCheckMs = state.networks[network];
  const hadTurn = previousNetworkCheckMs !== undefined;
  const opensAtMs = state.lastCheckMs + settings.spacingMs;
  if (nowMs < opensAtMs) {
    if (!hadTurn) state.heldUntilMs = Math.max(state.heldUntilMs, opensAtMs + settings.holdMs);
    const settlesAtMs = Math.min(state.lastCheckMs + settings.settleMs, opensAtMs);
    return { retryAfterMs: (nowMs < settlesAtMs ? settlesAtMs : opensAtMs) - nowMs };
  }
  if (hadTurn && nowMs < state.heldUntilMs) return { retryAfterMs: state.heldUntilMs - nowMs };
  const turn: Turn = {
    network,
    startedMs: nowMs,
    previousCheckMs: state.lastCheckMs,
    ...(hadTurn ? { previousNetworkCheckMs } : {}),
  };
  state.lastCheckMs = nowMs;
  state.networks[network] = nowMs;
  state.heldUntilMs = Number.NEGATIVE_INFINITY;
  return { turn, retryAfterMs: 0 };
}

/**
 * Undoes a check whose password was right: it no longer counts, so the lane is as it was before it
 * (unless a later check has begun since, which then keeps its own place).
 */
export function giveTurnBack(state: TurnState, turn: Turn): void {
  if (state.lastCheckMs === turn.startedMs) state.lastCheckMs = turn.previousCheckMs;
  if (state.networks[turn.network] !== turn.startedMs) return;
  if (turn.previousNetworkCheckMs === undefined) delete state.networks[turn.network];
  else state.networks[turn.network] = turn.previousNetworkCheckMs;
}

/** When nothing in `state` matters any more: the object may then forget it. */
export function forgettableAtMs(state: TurnState, settings: TurnSettings): number {
  return Math.max(
    state.lastCheckMs + settings.memoryMs,
    ...Object.values(state.networks).map((ms) => ms + settings.memoryMs),
    state.heldUntilMs,
  );
}
