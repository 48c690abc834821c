/**
 * Permits an isolate holds for a key: the Durable Object grants them a few at a time, the isolate
 * spends them locally, and asks again when they run out. The object never grants more than the
 * limit in a window, so no number of isolates can over-admit; a lease only saves the round trip
 * and the storage write that each request would otherwise cost. The price is that permits held by
 * an isolate a client stops using are unavailable elsewhere until the window resets, which is why
 * a lease is a small fraction of the limit (and a single permit for small limits such as logins).
 */
const LEASE_FRACTION_OF_LIMIT = 20;

export function leaseSize(limit: number): number {
  return Math.max(1, Math.floor(limit / LEASE_FRACTION_OF_LIMIT));
}

interface Lease {
  permits: number;
  /** What the object still had ungranted when it made this lease. */
  ungranted: number;
  resetAtMs: number;
}

export class LeaseTable {
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly maxEntries = 10_000) {}

  /** Spends one held permit; returns what remains for the client, or undefined when none is held. */
  take(key: string, nowMs: number): { remaining: number; resetAtMs: number } | undefined {
    const lease = this.leases.get(key);
    if (lease === undefined) return undefined;
    if (lease.permits === 0 || nowMs >= lease.resetAtMs) {
      this.leases.delete(key);
      return undefined;
    }
    lease.permits--;
    return { remaining: lease.ungranted + lease.permits, resetAtMs: lease.resetAtMs };
  }

  store(key: string, permits: number, ungranted: number, resetAtMs: number): void {
    if (this.leases.size >= this.maxEntries && !this.leases.has(key)) {
      const oldest = this.leases.keys().next().value;
      if (oldest !== undefined) this.leases.delete(oldest);
    }
    this.leases.set(key, { permits, ungranted, resetAtMs });
  }
}
