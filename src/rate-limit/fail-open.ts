/**
 * What a fail-open policy may still admit while its limiter cannot answer. Admitting every request
 * of a failing limiter would turn any failure that comes back fast (an object reset by a deploy,
 * "overloaded", a network error) into no limit at all; admitting none would turn it into an outage.
 * So each client key gets one admission per interval in this isolate, whatever kind of failure,
 * kept in memory: the limiter is exactly what cannot be asked. Bounded, so a flood from many
 * addresses cannot grow it without limit; an evicted key was admitted at most once per interval
 * before its eviction, like every key that pushed it out.
 */
export class FailOpenAllowance {
  private readonly nextAdmitAtMs = new Map<string, number>();

  constructor(
    readonly intervalMs: number,
    private readonly maxEntries = 10_000,
  ) {
    if (!(intervalMs > 0)) throw new Error("intervalMs must be positive");
  }

  /** Admits `key` when its previous fail-open admission is an interval old; either way, says when the next may be. */
  take(key: string, nowMs: number): { admitted: boolean; nextAdmitAtMs: number } {
    const next = this.nextAdmitAtMs.get(key);
    // A clock that stepped back by more than an interval does not keep the key out for longer than one.
    if (next !== undefined && nowMs < next && next - nowMs <= this.intervalMs) {
      return { admitted: false, nextAdmitAtMs: next };
    }
    if (next === undefined && this.nextAdmitAtMs.size >= this.maxEntries) {
      // Maps iterate in insertion order, and an admission re-inserts its key: drop the oldest admission first.
      const oldest = this.nextAdmitAtMs.keys().next().value;
      if (oldest !== undefined) this.nextAdmitAtMs.delete(oldest);
    }
    this.nextAdmitAtMs.delete(key);
    this.nextAdmitAtMs.set(key, nowMs + this.intervalMs);
    return { admitted: true, nextAdmitAtMs: nowMs + this.intervalMs };
  }
}
