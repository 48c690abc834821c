/**
 * Per-isolate memory of keys the Durable Object has refused, until their window resets. While a
 * key is in here, its requests are refused without a Durable Object call, so a flood from one
 * client costs almost nothing. It can only shorten a refusal path, never admit: an entry is added
 * only from a refusal while the isolate holds no permit for the key, and removed when permits
 * arrive; a key that is not in here is always asked. Bounded, so a flood from
 * many addresses cannot grow it without limit.
 */
export class DenyCache {
  private readonly blockedUntilMs = new Map<string, number>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The epoch ms until which `key` is known to be refused, or undefined. */
  blockedUntil(key: string, nowMs: number): number | undefined {
    const until = this.blockedUntilMs.get(key);
    if (until === undefined) return undefined;
    if (until <= nowMs) {
      this.blockedUntilMs.delete(key);
      return undefined;
    }
    return until;
  }

  /** Forgets a refusal that no longer holds: the isolate was granted permits for `key` after all. */
  unblock(key: string): void {
    this.blockedUntilMs.delete(key);
  }

  block(key: string, untilMs: number): void {
    if (this.blockedUntilMs.size >= this.maxEntries && !this.blockedUntilMs.has(key)) {
      // Maps iterate in insertion order: drop the oldest refusal first.
      const oldest = this.blockedUntilMs.keys().next().value;
      if (oldest !== undefined) this.blockedUntilMs.delete(oldest);
    }
    this.blockedUntilMs.set(key, untilMs);
  }
}
