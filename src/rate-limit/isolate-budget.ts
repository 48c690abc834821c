/**
 * A budget kept in one isolate's memory, for work that must be capped per isolate whatever the
 * clients: the PBKDF2 of each login attempt costs ~100,000 HMAC iterations of this isolate's CPU,
 * and no per-client limit bounds the sum over many clients. A fixed window on the isolate's clock;
 * it needs no Durable Object call, and it need not be exact across isolates, since what it shields
 * is this isolate's CPU.
 */
export class IsolateBudget {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private spent = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Spends one unit; returns the ms until the budget refills when none is left. */
  take(nowMs: number): { ok: true } | { ok: false; retryAfterMs: number } {
    if (nowMs >= this.windowStartMs + this.windowMs || nowMs < this.windowStartMs) {
      this.windowStartMs = nowMs;
      this.spent = 0;
    }
    if (this.spent >= this.limit) return { ok: false, retryAfterMs: this.windowStartMs + this.windowMs - nowMs };
    this.spent++;
    return { ok: true };
  }
}
