/**
 * The revocation lists' fan-out: one call to a tenant's registry object per data center, not one
 * per isolate. Every isolate of a data center that is caught up on a tenant asks for the same page
 * (`<tenant>/since/<seq>`), so the first to ask calls that tenant's object and puts the answer in
 * the data center's cache (the Cache API); the others read it there for `ttlMs`. An object's load
 * then follows the number of data centers serving its tenant, not of isolates. What it costs: an
 * answer up to `ttlMs` old. The answer carries when it was produced, and the revocation cache
 * counts a copy's age from then (revocations.ts), so no request acts on a list older than its
 * bound, whoever fetched it. A cache that fails, or has no effect (a `workers.dev` host: `put` is
 * accepted and nothing is kept), only sends every call to the object, as without this layer; the
 * refresh jitter in revocations.ts then is what keeps the isolates of a tenant from calling in step.
 */
import type { RevocationBatch, RevocationSource } from "./revocations.ts";

/** The part of the Cache API this needs (`caches.default` in production). */
export interface SharedCache {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
}

export interface ColoCachedSourceOptions {
  /** The object's own answer. */
  source: RevocationSource;
  /** The data center's cache; undefined sends every call to `source`. */
  cache: SharedCache | undefined;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** How long one answer serves a data center. Default 10,000. */
  ttlMs?: number;
}

/** Not a host anyone can reach: the cache key of a page, never fetched. */
const CACHE_KEY_BASE = "https://revocation-list.streamforge.internal/";

/** @example const source = coloCachedSource({ source: (tenant, seq) => revocationShard(ns, tenant).revocationsSince(seq), cache: caches.default }) */
export function coloCachedSource(options: ColoCachedSourceOptions): RevocationSource {
  const { source, cache } = options;
  const clock = options.clock ?? Date.now;
  const ttlMs = options.ttlMs ?? 10_000;
  if (!(ttlMs > 0 && ttlMs <= 20_000)) throw new Error("colo cache: need 0 < ttlMs <= 20000");
  if (cache === undefined) return source;

  return async function coloCachedSource(tenant, afterSeq) {
    const key = `${CACHE_KEY_BASE}${encodeURIComponent(tenant)}/since/${afterSeq}`;
    const nowMs = clock();
    try {
      const hit = await cache.match(key);
      if (hit !== undefined) {
        const batch = (await hit.json()) as RevocationBatch;
        // A clock behind the producer's would make an old answer look young: such an answer is not used.
        const ageMs = nowMs - (batch.producedAtMs ?? Number.NEGATIVE_INFINITY);
        if (ageMs >= 0 && ageMs < ttlMs) return batch;
      }
    } catch {
      // The object answers instead.
    }
    const batch: RevocationBatch = { ...(await source(tenant, afterSeq)), producedAtMs: nowMs };
    const maxAgeSeconds = Math.ceil(ttlMs / 1000);
    await cache
      .put(key, Response.json(batch, { headers: { "Cache-Control": `max-age=${maxAgeSeconds}` } }))
      .catch(() => undefined);
    return batch;
  };
}
