/**
 * The counting rule, kept pure so it can be tested without a runtime.
 *
 * Algorithm: a fixed window per key, anchored at the key's first request rather than at the
 * wall clock. Chosen over the alternatives because
 * - it is exact: a window grants at most `limit` permits, and a burst of any size, however long
 *   it takes to arrive, is admitted exactly `limit` times (a GCRA or token bucket refills while
 *   the burst is still arriving; clock-aligned windows admit 2 × limit to a burst that straddles
 *   a boundary);
 * - the reset is exact and cheap to state (`t` in the RateLimit header is the window's end);
 * - state is two numbers per key, and permits can be granted several at a time (see lease.ts)
 *   without ever granting more than the limit; resets are spread over time instead of every
 *   client's landing on the same second.
 * The known trade-off of fixed windows remains: a client can spend a full window's allowance at the
 * end of one window and again at the start of the next.
 */
export interface WindowState {
  windowStartMs: number;
  /** Permits granted in this window. */
  count: number;
}

export interface Grant {
  /** Permits granted by this call: between 0 and the number asked for. */
  granted: number;
  limit: number;
  /** Permits still ungranted in the window after this call. */
  remaining: number;
  /** Epoch ms at which the current window ends and the allowance is whole again. */
  resetAtMs: number;
}

export function applyGrant(
  state: WindowState | undefined,
  limit: number,
  windowMs: number,
  nowMs: number,
  wanted: number,
): { state: WindowState; grant: Grant } {
  const current = state !== undefined && nowMs < state.windowStartMs + windowMs && nowMs >= state.windowStartMs ? state : { windowStartMs: nowMs, count: 0 };
  const granted = Math.max(0, Math.min(wanted, limit - current.count));
  const next = { windowStartMs: current.windowStartMs, count: current.count + granted };
  return {
    state: next,
    grant: { granted, limit, remaining: limit - next.count, resetAtMs: next.windowStartMs + windowMs },
  };
}

/** Whole seconds until `resetAtMs`, rounded up, so a client that waits that long is admitted. */
export function secondsUntil(resetAtMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((resetAtMs - nowMs) / 1000));
}
