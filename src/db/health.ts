/**
 * Readiness that is not a lever: `/health/ready` is unauthenticated, so its database check is
 * shared. Within `ttlMs` every caller of this isolate gets the outcome of the same check, whether it
 * is still running or settled, success or failure: at most one database request per isolate per
 * interval, however many callers.
 */
import type { Database, Query } from "./client.ts";

const PING: Query<void> = { text: "select 1", params: [], decode: () => undefined };

export interface ReadinessCheckOptions {
  database: Database;
  /** How long one outcome answers for. Default 5000. */
  ttlMs?: number;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
}

/** `waitUntil` keeps a check running when the request that started it ends first. */
export type ReadinessCheck = (waitUntil: (promise: Promise<unknown>) => void) => Promise<void>;

/** @example const ready = readinessCheck({ database: metrics, ttlMs: 5000 }); await ready(p => ctx.waitUntil(p)); */
export function readinessCheck({ database, ttlMs = 5000, clock = Date.now }: ReadinessCheckOptions): ReadinessCheck {
  let current: { startedAtMs: number; outcome: Promise<void> } | undefined;
  return function checkReadiness(waitUntil) {
    const now = clock();
    if (current === undefined || now - current.startedAtMs >= ttlMs) {
      const outcome = database.read([PING]).then(() => undefined);
      // Settled here too, so an isolate never reports an unhandled rejection for a shared failure.
      waitUntil(outcome.catch(() => undefined));
      current = { startedAtMs: now, outcome };
    }
    return current.outcome;
  };
}
