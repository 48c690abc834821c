/**
 * Revocation without a redeploy. Each tenant's list lives in its own KeyRegistry object
 * (`revocations:<tenant>`, registry.ts says why one per tenant); each isolate keeps a copy per
 * tenant whose credentials it checks, fetched the first time one is checked and synced by sequence
 * number after that, so a sync carries only what changed. A copy is used as is while younger than
 * its refresh age (`refreshAfterMs` plus up to `refreshJitterMs`, drawn anew at each sync so the
 * isolates of a tenant do not call its object in step), refreshed in the background (`waitUntil`)
 * until `maxAgeMs`, and awaited after that: no request ever acts on a copy older than `maxAgeMs`,
 * and under steady traffic no request waits for one. If a tenant's object cannot answer within
 * `timeoutMs` once that tenant's copy is too old, the request fails closed (503): a revoked key
 * must not come back because the list is out of reach. Only that tenant's credentials are refused;
 * every other tenant's copy, and its object, are untouched. A sync reads pages of at most
 * REVOCATION_PAGE_ENTRIES entries (under 64 KB per call), each within `timeoutMs`, until it has
 * caught up. At most `maxTenants` copies are kept (the least recently used go first), so an
 * isolate's memory follows the tenants it serves and their revoked keys and users; a tenant is only
 * ever named by a credential that verified (signed key claims, API_KEYS, a signed token), so no
 * stranger can make an isolate fetch lists or evict copies with made-up tenants.
 *
 * What can be revoked, always within one tenant: one API key id, for good; everything a tenant's
 * API keys, a user's tokens or a tenant's tokens were issued before a point in time, so that
 * credentials issued afterwards work again without anyone lifting the revocation. A tenant's object
 * keeps one entry per key id, user or the tenant itself (a newer revocation replaces the older
 * one), so a list grows with keys and users, never with requests. Dashboard sessions are not on
 * this list: their families live in one object per user (session-families.ts).
 */
import { stateUnavailable, withTimeout } from "./timeout.ts";

/** Entries per page of a sync: subjects are at most 64 characters, so a page stays under 64 KB. */
export const REVOCATION_PAGE_ENTRIES = 300;

/** What an operator revokes (admin routes, key and token scripts). */
export const REVOCATION_KINDS = ["key", "tenant-keys", "user", "tenant-tokens"] as const;
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

export interface Revocation {
  seq: number;
  kind: RevocationKind;
  subject: string;
  revokedAtMs: number;
}

export interface RevocationBatch {
  /** The highest sequence number in this page (or the source's, when empty); pass it back for the next. */
  seq: number;
  entries: Revocation[];
  /** More entries follow this page. */
  more: boolean;
  /** When the object produced this answer, when it may be older than the call (colo-cache.ts). */
  producedAtMs?: number;
}

/** Where a tenant's list comes from: its registry object's RPC in production, anything in tests. */
export type RevocationSource = (tenant: string, afterSeq: number) => Promise<RevocationBatch>;

const issuedBefore = (issuedAtSeconds: number | undefined, revokedAtMs: number | undefined) =>
  // A credential without an issue time (a legacy key) predates every revocation.
  revokedAtMs !== undefined && (issuedAtSeconds === undefined || issuedAtSeconds * 1000 <= revokedAtMs);

/** One tenant's revocations in force, indexed for a Map lookup per check. */
export class RevocationSet {
  private readonly keyIds = new Set<string>();
  private readonly latest = new Map<string, number>();

  /** Entries held: one per revoked key id, user or tenant-wide revocation. */
  get size(): number {
    return this.keyIds.size + this.latest.size;
  }

  apply(entries: readonly Revocation[]): void {
    for (const entry of entries) {
      if (entry.kind === "key") this.keyIds.add(entry.subject);
      else
        this.latest.set(
          `${entry.kind}:${entry.subject}`,
          Math.max(entry.revokedAtMs, this.latest.get(`${entry.kind}:${entry.subject}`) ?? 0),
        );
    }
  }

  keyRevoked(key: { id: string; tenant: string; issuedAtSeconds?: number }): boolean {
    return this.keyIds.has(key.id) || issuedBefore(key.issuedAtSeconds, this.latest.get(`tenant-keys:${key.tenant}`));
  }

  tokenRevoked(token: { subject: string; tenant: string; issuedAtSeconds: number }): boolean {
    return (
      issuedBefore(token.issuedAtSeconds, this.latest.get(`user:${token.subject}`)) ||
      issuedBefore(token.issuedAtSeconds, this.latest.get(`tenant-tokens:${token.tenant}`))
    );
  }
}

export interface RevocationCacheOptions {
  source: RevocationSource;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** In [0, 1): draws each copy's jitter. Default `Math.random`. */
  random?: () => number;
  /** Least age after which a request starts a background refresh. Default 20,000. */
  refreshAfterMs?: number;
  /** Most that is added to `refreshAfterMs`, drawn per sync. Default 10,000, or `maxAgeMs - refreshAfterMs` when less. */
  refreshJitterMs?: number;
  /** Age after which a request waits for a fresh copy; at most 60,000. Default 45,000. */
  maxAgeMs?: number;
  /** How long a request waits for one page. Default 2,000. */
  timeoutMs?: number;
  /** Tenants whose copies one isolate keeps. Default 1,000. */
  maxTenants?: number;
}

interface TenantCopy {
  set: RevocationSet;
  seq: number;
  /** When the last successful sync was asked for: what it returned is at least this fresh. */
  syncedAtMs: number;
  refreshAfterMs: number;
  pending: Promise<void> | undefined;
}

/** One per isolate. */
export class RevocationCache {
  private readonly copies = new Map<string, TenantCopy>();
  private readonly source: RevocationSource;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly refreshAfterMs: number;
  private readonly refreshJitterMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly maxTenants: number;

  constructor(options: RevocationCacheOptions) {
    this.source = options.source;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.refreshAfterMs = options.refreshAfterMs ?? 20_000;
    this.maxAgeMs = options.maxAgeMs ?? 45_000;
    this.refreshJitterMs = options.refreshJitterMs ?? Math.min(10_000, this.maxAgeMs - this.refreshAfterMs);
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.maxTenants = options.maxTenants ?? 1_000;
    if (
      !(
        this.refreshAfterMs > 0 &&
        this.refreshJitterMs >= 0 &&
        this.refreshAfterMs + this.refreshJitterMs <= this.maxAgeMs &&
        this.maxAgeMs <= 60_000 &&
        this.maxTenants > 0
      )
    ) {
      throw new Error(
        "revocation cache: need 0 < refreshAfterMs, 0 <= refreshJitterMs, refreshAfterMs + refreshJitterMs <= maxAgeMs <= 60000 and maxTenants > 0",
      );
    }
  }

  /**
   * The tenant's revocations in force, at most `maxAgeMs` old; throws a 503 problem when that
   * tenant's object cannot bring them up to date.
   */
  async current(tenant: string, waitUntil: (promise: Promise<unknown>) => void): Promise<RevocationSet> {
    const copy = this.copyOf(tenant);
    const ageMs = this.clock() - copy.syncedAtMs;
    if (ageMs < copy.refreshAfterMs) return copy.set;
    if (ageMs < this.maxAgeMs) {
      // A failed background refresh is retried by the next request; the copy is still young enough.
      waitUntil(this.sync(tenant, copy).catch(() => undefined));
      return copy.set;
    }
    try {
      await this.sync(tenant, copy);
    } catch (error) {
      throw stateUnavailable({
        event: "revocation_list_unavailable",
        code: "revocation-list-unavailable",
        detail: "Credentials cannot be checked right now. Try again shortly.",
        error,
      });
    }
    return copy.set;
  }

  /**
   * Applies a revocation this isolate just made, so it holds here from the next request on; the
   * other isolates learn it at their next sync. The sequence number is left alone: entries made
   * elsewhere before it must still arrive.
   */
  applyLocally(tenant: string, revocation: Revocation): void {
    this.copyOf(tenant).set.apply([revocation]);
  }

  /** Revocation entries held in this isolate, over every tenant's copy. */
  entriesHeld(): number {
    let entries = 0;
    for (const copy of this.copies.values()) entries += copy.set.size;
    return entries;
  }

  private copyOf(tenant: string): TenantCopy {
    let copy = this.copies.get(tenant);
    if (copy === undefined) {
      copy = {
        set: new RevocationSet(),
        seq: 0,
        syncedAtMs: Number.NEGATIVE_INFINITY,
        refreshAfterMs: this.refreshAfterMs,
        pending: undefined,
      };
    } else {
      this.copies.delete(tenant);
    }
    this.copies.set(tenant, copy);
    if (this.copies.size > this.maxTenants) this.copies.delete(this.copies.keys().next().value!);
    return copy;
  }

  private sync(tenant: string, copy: TenantCopy): Promise<void> {
    copy.pending ??= (async () => {
      const askedAtMs = this.clock();
      try {
        // The copy is as old as the oldest answer it is made of, which a shared cache may have kept a while.
        let syncedAtMs = askedAtMs;
        let more = true;
        while (more) {
          const batch = await withTimeout(this.source(tenant, copy.seq), this.timeoutMs);
          copy.set.apply(batch.entries);
          copy.seq = Math.max(copy.seq, batch.seq);
          syncedAtMs = Math.min(syncedAtMs, batch.producedAtMs ?? askedAtMs);
          more = batch.more;
        }
        copy.syncedAtMs = syncedAtMs;
        copy.refreshAfterMs = this.refreshAfterMs + Math.floor(this.random() * this.refreshJitterMs);
      } finally {
        copy.pending = undefined;
      }
    })();
    return copy.pending;
  }
}
