/**
 * The counting rule of one Durable Object, kept pure so it can be tested without a runtime.
 *
 * Algorithm: a fixed window per key, anchored at the key's first request rather than at the
 * wall clock. Chosen over the alternatives because
 * - it is exact: a window grants at most `limit` permits, and a burst of any size, however long
 *   it takes to arrive, is admitted exactly `limit` times (a GCRA or token bucket refills while
 *   the burst is still arriving; clock-aligned windows admit 2 × limit to a burst that straddles
 *   a boundary);
 * - the reset is exact and cheap to state (`t` in the RateLimit header is the window's end);
 * - state is two numbers per key, and permits can be granted several at a time (see lease.ts)
 *   without ever granting more than the limit.
 * The known trade-off of fixed windows remains: a client can spend a full window's allowance at the
 * end of one window and again at the start of the next.
 *
 * Time is the object's own clock, never a caller's. Callers run on many machines whose clocks
 * differ and whose calls arrive out of order; if their timestamps placed windows, a caller stamped
 * a few milliseconds early would open a fresh window and be granted a second allowance. One clock
 * read in one place cannot disagree with itself, and should it ever step backwards the window
 * stays where it is: only time moving past the window's end opens a new one.
 */
export interface WindowState {
  windowStartMs: number;
  /** Permits granted in this window and not handed back. */
  count: number;
}

/** Lease sizes shrink as the window empties: no holder may take more than this share of what is left. */
const SHARE_DIVISOR = 2;

/** The window in force at `nowMs`: the stored one until its end, then a fresh one. */
export function currentWindow(state: WindowState | undefined, windowMs: number, nowMs: number): WindowState {
  if (state !== undefined && nowMs < state.windowStartMs + windowMs) return state;
  return { windowStartMs: nowMs, count: 0 };
}

/**
 * How many of `wanted` permits to grant when `holders` isolates draw on the window: never past the
 * limit, and never more than half of what is left divided among the holders, so permits leased to
 * isolates a client has left can strand only a shrinking share of the remainder. Near the limit
 * every grant is a single permit, which the asking request spends at once: the last decisions are
 * made one by one at the object (Unkey's "strict" mode, applied only where it matters).
 */
export function grantSize(limit: number, count: number, wanted: number, holders: number): number {
  const ungranted = Math.max(0, limit - count);
  const share = Math.max(1, Math.floor(ungranted / (SHARE_DIVISOR * Math.max(1, holders))));
  return Math.max(0, Math.min(wanted, ungranted, share));
}

/** Whole seconds until `resetAtMs`, rounded up, so a client that waits that long is admitted. */
export function secondsUntil(resetAtMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((resetAtMs - nowMs) / 1000));
}
