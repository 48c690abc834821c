/**
 * Ready means a tenant read would work: the check is a tenant-scoped read, so it proves the metrics
 * role can log in, that the worker's TENANT_SCOPE_KEY is the one the database holds (the scope
 * statement, a security-definer function, refuses any other) and that the role may read the metrics
 * table. A `select 1` answered while every tenant read failed on the scope key.
 *
 * Readiness that is not a lever: `/health/ready` is unauthenticated, so its database check is
 * shared. Within `ttlMs` every caller of this isolate gets the outcome of the same check, whether it
 * is still running or settled, success or failure: at most one database request per isolate per
 * interval, however many callers.
 */
import type { Database, Query } from "./client.ts";

const METRICS_READABLE: Query<void> = {
  text: "select 1 from metric_buckets limit 0",
  params: [],
  decode: () => undefined,
};
/** Not a possible tenant slug (slugs start with a letter or digit): the probe can never open a tenant's rows. */
const PROBE_TENANT = "-readiness-probe";

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
      const outcome = database.read([METRICS_READABLE], { tenant: PROBE_TENANT }).then(() => undefined);
      // Settled here too, so an isolate never reports an unhandled rejection for a shared failure.
      waitUntil(outcome.catch(() => undefined));
      current = { startedAtMs: now, outcome };
    }
    return current.outcome;
  };
}
