/**
 * The counting rule, kept pure so it can be tested without a runtime.
 *
 * Algorithm: a fixed window per key, anchored at the key's first request rather than at the
 * wall clock. Chosen over the alternatives because
 * - it is exact: a window admits at most `limit` requests, and a burst of any size, however long
 *   it takes to arrive, admits exactly `limit` (a GCRA or token bucket refills while the burst is
 *   still arriving; clock-aligned windows admit 2 × limit to a burst that straddles a boundary);
 * - the reset is exact and cheap to state (`t` in the RateLimit header is the window's end);
 * - state is two numbers per key, so each request is one small write in the Durable Object, and
 *   resets are spread over time instead of every client's landing on the same second.
 * The known trade-off of fixed windows remains: a client can spend a full window's allowance at the
 * end of one window and again at the start of the next.
 */
export interface WindowState {
  windowStartMs: number;
  count: number;
}

export interface HitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Epoch ms at which the current window ends and the allowance is whole again. */
  resetAtMs: number;
}

export function applyHit(
  state: WindowState | undefined,
  limit: number,
  windowMs: number,
  nowMs: number,
): { state: WindowState; decision: HitDecision } {
  const current = state !== undefined && nowMs < state.windowStartMs + windowMs && nowMs >= state.windowStartMs ? state : { windowStartMs: nowMs, count: 0 };
  const allowed = current.count < limit;
  const next = allowed ? { windowStartMs: current.windowStartMs, count: current.count + 1 } : current;
  return {
    state: next,
    decision: { allowed, limit, remaining: Math.max(0, limit - next.count), resetAtMs: next.windowStartMs + windowMs },
  };
}

/** Whole seconds until `resetAtMs`, never 0 while a wait remains (clients treat 0 as "now"). */
export function secondsUntil(resetAtMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((resetAtMs - nowMs) / 1000));
}
