/**
 * Permits an isolate holds for a key: the Durable Object grants them a few at a time, the isolate
 * spends them locally, and asks again when they run out. The object never grants more than the
 * limit in a window, so no number of isolates can over-admit; a lease only saves the round trip
 * and the storage write that each request would otherwise cost.
 *
 * The price of a lease is that its permits are unusable elsewhere while an isolate holds them, and
 * a client that moves between isolates (as clients do: each connection may land on another one)
 * would leave them stranded. Three rules keep that small, chosen from the known techniques
 * (Doorman's lease expiry and release, Envoy RLQS's assignments with a time to live, Unkey's strict
 * mode near the limit):
 * - a lease starts at one permit, spent by the request that asked for it, and doubles (up to a
 *   twentieth of the limit) only while this isolate spends each lease within its lifetime; one
 *   that had to hand permits back gets half, one asked again after a lease's lifetime gets one —
 *   only an isolate that really carries the client holds more than that one permit;
 * - the object grants at most half of what is left divided among the isolates holding leases
 *   (window.ts), so near the limit every decision is made at the object, one permit at a time;
 * - a lease expires LEASE_TTL_MS after it was asked for, and its unspent permits go back to the
 *   object with the isolate's next call for that client or, if the client never comes back, with
 *   the next limited request the isolate serves for anyone (in that request's waitUntil: an object
 *   call belongs to the request that makes it, and no request is held open waiting for a lease to
 *   expire). Until then the object answers "retry in a moment" instead of "exhausted", so no
 *   isolate caches a refusal while permits are on their way back. An isolate that serves nothing
 *   more keeps them; after a grace the object counts them as spent.
 * A hot client on one isolate therefore still costs one object call per lease of up to limit/20
 * permits, while a client spread over many isolates gets its whole allowance, less at most the
 * permits of an isolate that disappears with a lease in hand (eviction), which are lost until the
 * window resets.
 *
 * Expiry is measured on the isolate's clock from the moment it asked, which is before the object
 * granted, so the isolate stops spending before the object stops expecting the lease back,
 * whatever the offset between their clocks.
 */
import type { Grant, Release } from "./durable-object.ts";

/** How long an isolate may spend a lease before handing back what is left. */
export const LEASE_TTL_MS = 2_000;
const LEASE_FRACTION_OF_LIMIT = 20;

/** The largest lease for `limit`: a twentieth of it, and a single permit for small limits such as logins. */
export function maxLeaseSize(limit: number): number {
  return Math.max(1, Math.floor(limit / LEASE_FRACTION_OF_LIMIT));
}

interface Lease {
  permits: number;
  /** Permits the object had left ungranted when it made this lease. */
  ungranted: number;
  /** Permits granted, to size the next lease. */
  size: number;
  windowStartMs: number;
  /** Local clock: when the lease was asked for, when it stops being spendable, when the window resets. */
  askedAtMs: number;
  expiresAtMs: number;
  resetAtMs: number;
}

export interface LeaseAsk {
  wanted: number;
  /** Unspent permits of an expired lease, to hand back with the call. */
  returned?: Release;
}

/** A lease that may hold unspent permits at its expiry, in expiry order (every lease lives LEASE_TTL_MS). */
interface Expiring {
  key: string;
  windowStartMs: number;
  askedAtMs: number;
}

export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  private expiring: Expiring[] = [];
  private expiringHead = 0;
  /** Names this table (this isolate) to the objects, which track one lease per holder. */
  readonly holder = crypto.randomUUID();

  constructor(private readonly maxEntries = 10_000) {}

  /** Spends one held permit; returns what remains for the client, or undefined when none is spendable. */
  take(key: string, nowMs: number): { remaining: number; resetAtMs: number; windowStartMs: number } | undefined {
    const lease = this.leases.get(key);
    if (lease === undefined || lease.permits === 0 || nowMs >= lease.expiresAtMs || nowMs >= lease.resetAtMs)
      return undefined;
    lease.permits--;
    return {
      remaining: lease.ungranted + lease.permits,
      resetAtMs: lease.resetAtMs,
      windowStartMs: lease.windowStartMs,
    };
  }

  /** Whether `key` holds a permit spendable at `nowMs`. */
  holds(key: string, nowMs: number): boolean {
    const lease = this.leases.get(key);
    return lease !== undefined && lease.permits > 0 && nowMs < lease.expiresAtMs && nowMs < lease.resetAtMs;
  }

  /** What to ask the object for: the next lease's size, and the unspent rest of the previous one. */
  ask(key: string, nowMs: number, limit: number): LeaseAsk {
    const previous = this.leases.get(key);
    if (previous === undefined) return { wanted: 1 };
    const returned = this.handBack(previous);
    if (returned !== undefined) return { wanted: Math.max(1, Math.floor(previous.size / 2)), returned };
    // Spent within its lifetime: this isolate carries the client, so the next lease may be larger.
    const spentInTime = nowMs - previous.askedAtMs < LEASE_TTL_MS;
    return { wanted: spentInTime ? Math.min(maxLeaseSize(limit), previous.size * 2) : 1 };
  }

  /**
   * Keeps a granted lease; `askedAtMs` is the local time the request for it was made. Permits still
   * held from the same window (concurrent requests each asked) are pooled into it, to be spent or
   * handed back with it.
   */
  store(key: string, grant: Grant, askedAtMs: number): void {
    const held = this.leases.get(key);
    if (held === undefined && this.leases.size >= this.maxEntries) {
      const oldest = this.leases.keys().next().value;
      if (oldest !== undefined) this.leases.delete(oldest);
    }
    const pooled =
      held !== undefined && held.windowStartMs === grant.windowStartMs && askedAtMs < held.expiresAtMs
        ? held.permits
        : 0;
    if (grant.granted + pooled > 1 && this.expiring.length - this.expiringHead < this.maxEntries) {
      this.expiring.push({ key, windowStartMs: grant.windowStartMs, askedAtMs });
    }
    this.leases.set(key, {
      permits: grant.granted + pooled,
      ungranted: grant.remaining,
      size: grant.granted,
      windowStartMs: grant.windowStartMs,
      askedAtMs,
      expiresAtMs: askedAtMs + LEASE_TTL_MS,
      resetAtMs: askedAtMs + grant.resetAfterMs,
    });
  }

  /**
   * Ends every lease whose lifetime is over by `nowMs` and returns what each still held, to hand
   * back to its object. Cheap when nothing has expired: leases expire in the order they were made.
   * The lease of `askingKey` is left to the caller, who hands it back with its own call for that key:
   * returned separately, it could reach the object after that call, which would then see the
   * permits as spent and call the client exhausted.
   */
  sweep(nowMs: number, askingKey?: string): { key: string; release: Release }[] {
    const released: { key: string; release: Release }[] = [];
    while (
      this.expiringHead < this.expiring.length &&
      this.expiring[this.expiringHead]!.askedAtMs + LEASE_TTL_MS <= nowMs
    ) {
      const { key, windowStartMs, askedAtMs } = this.expiring[this.expiringHead++]!;
      if (key === askingKey) continue;
      const release = this.expire(key, windowStartMs, askedAtMs);
      if (release !== undefined) released.push({ key, release });
    }
    if (this.expiringHead > 1_000 && this.expiringHead * 2 > this.expiring.length) {
      this.expiring = this.expiring.slice(this.expiringHead);
      this.expiringHead = 0;
    }
    return released;
  }

  /** Ends the lease for `key` if it is still the one granted in `windowStartMs`; returns its unspent permits. */
  expire(key: string, windowStartMs: number, askedAtMs: number): Release | undefined {
    const lease = this.leases.get(key);
    if (lease === undefined || lease.windowStartMs !== windowStartMs || lease.askedAtMs !== askedAtMs) return undefined;
    return this.handBack(lease);
  }

  private handBack(lease: Lease): Release | undefined {
    if (lease.permits === 0) return undefined;
    const release = { windowStartMs: lease.windowStartMs, permits: lease.permits };
    lease.permits = 0;
    return release;
  }
}
