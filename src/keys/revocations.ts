/**
 * Revocation without a redeploy. The list lives in the KeyRegistry Durable Object (registry.ts);
 * each isolate keeps a copy and syncs it by sequence number, so a sync carries only what changed.
 * The copy is used as is while younger than `refreshAfterMs`, refreshed in the background
 * (`waitUntil`) until `maxAgeMs`, and awaited after that: no request ever acts on a list older than
 * `maxAgeMs`, and under steady traffic no request waits for one. If the object cannot answer within
 * `timeoutMs` once the copy is too old, the request fails closed (503): a revoked key must not come
 * back because the list is out of reach. A sync reads pages of at most REVOCATION_PAGE_ENTRIES
 * entries (under 64 KB per call), each within `timeoutMs`, until it has caught up.
 *
 * What can be revoked: one API key id, for good; everything a tenant's API keys, a user's
 * tokens or a tenant's tokens were issued before a point in time, so that credentials issued
 * afterwards work again without anyone lifting the revocation. The registry keeps one entry per
 * key id, user or tenant (a newer revocation replaces the older one), so the list grows with keys
 * and users, never with requests. Dashboard sessions are not on this list: their families live in
 * one object per user (session-families.ts).
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

/** Where the list comes from: the registry object's RPC in production, anything in tests. */
export type RevocationSource = (afterSeq: number) => Promise<RevocationBatch>;

const issuedBefore = (issuedAtSeconds: number | undefined, revokedAtMs: number | undefined) =>
  // A credential without an issue time (a legacy key) predates every revocation.
  revokedAtMs !== undefined && (issuedAtSeconds === undefined || issuedAtSeconds * 1000 <= revokedAtMs);

/** The revocations in force, indexed for a Map lookup per check. */
export class RevocationSet {
  private readonly keyIds = new Set<string>();
  private readonly latest = new Map<string, number>();

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
  /** Age after which a request starts a background refresh. Default 20,000. */
  refreshAfterMs?: number;
  /** Age after which a request waits for a fresh list; at most 60,000. Default 45,000. */
  maxAgeMs?: number;
  /** How long a request waits for one page. Default 2,000. */
  timeoutMs?: number;
}

/** One per isolate. */
export class RevocationCache {
  private readonly set = new RevocationSet();
  private seq = 0;
  /** When the last successful sync was asked for: what it returned is at least this fresh. */
  private syncedAtMs = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  private readonly source: RevocationSource;
  private readonly clock: () => number;
  private readonly refreshAfterMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;

  constructor(options: RevocationCacheOptions) {
    this.source = options.source;
    this.clock = options.clock ?? Date.now;
    this.refreshAfterMs = options.refreshAfterMs ?? 20_000;
    this.maxAgeMs = options.maxAgeMs ?? 45_000;
    this.timeoutMs = options.timeoutMs ?? 2_000;
    if (!(this.refreshAfterMs > 0 && this.refreshAfterMs <= this.maxAgeMs && this.maxAgeMs <= 60_000)) {
      throw new Error("revocation cache: need 0 < refreshAfterMs <= maxAgeMs <= 60000");
    }
  }

  /** The list in force, at most `maxAgeMs` old; throws a 503 problem when it cannot be brought up to date. */
  async current(waitUntil: (promise: Promise<unknown>) => void): Promise<RevocationSet> {
    const ageMs = this.clock() - this.syncedAtMs;
    if (ageMs < this.refreshAfterMs) return this.set;
    if (ageMs < this.maxAgeMs) {
      // A failed background refresh is retried by the next request; the copy is still young enough.
      waitUntil(this.sync().catch(() => undefined));
      return this.set;
    }
    try {
      await this.sync();
    } catch (error) {
      throw stateUnavailable({
        event: "revocation_list_unavailable",
        code: "revocation-list-unavailable",
        detail: "Credentials cannot be checked right now. Try again shortly.",
        error,
      });
    }
    return this.set;
  }

  /**
   * Applies a revocation this isolate just made, so it holds here from the next request on; the
   * other isolates learn it at their next sync. The sequence number is left alone: entries made
   * elsewhere before it must still arrive.
   */
  applyLocally(revocation: Revocation): void {
    this.set.apply([revocation]);
  }

  private sync(): Promise<void> {
    this.pending ??= (async () => {
      const askedAtMs = this.clock();
      try {
        // The copy is as old as the oldest answer it is made of, which a shared cache may have kept a while.
        let syncedAtMs = askedAtMs;
        let more = true;
        while (more) {
          const batch = await withTimeout(this.source(this.seq), this.timeoutMs);
          this.set.apply(batch.entries);
          this.seq = Math.max(this.seq, batch.seq);
          syncedAtMs = Math.min(syncedAtMs, batch.producedAtMs ?? askedAtMs);
          more = batch.more;
        }
        this.syncedAtMs = syncedAtMs;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}
