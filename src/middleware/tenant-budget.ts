/**
 * A database budget per tenant on the routes that read Postgres (`/metrics/*`, `/streams`), so
 * that one tenant's flood cannot starve another tenant's reads. Every tenant shares the one
 * database; the per-address, per-network and per-principal limits bound a client, not a tenant
 * with many users, keys and networks. Two bounds, both keyed by the principal's tenant:
 * - a query rate across the whole edge (`RATE_LIMIT_TENANT_QUERIES`), counted exactly by the
 *   tenant's rate-limiter object. It is what bounds the tenant's load on the database. Its permits
 *   come in leases (src/rate-limit/lease.ts), so a tenant busy in an isolate costs one object call
 *   per lease, not per request, and a tenant refused is refused from the isolate's memory;
 * - reads in flight per isolate (`TENANT_QUERY_CONCURRENCY`), in memory. A fixed window lets the
 *   whole minute's rate be spent in its first second; this cap spreads that burst, so that the
 *   tenant never holds more than a few of the database's connections from one isolate. It is
 *   checked first: a request it refuses costs no object call.
 * Chosen over a short per-tenant cache of the overview: a cache answers only repeated identical
 * reads, while a flood of time series (any stream, any range) or of stream lists would pass it
 * untouched; a budget bounds every route, and no tenant ever sees data older than its read.
 * A refusal is a 429 problem with `Retry-After`: the tenant's requests, not the service, are
 * what is too many. It costs the request's address and principal nothing: a refusal this isolate
 * can foresee (the tenant's slots all held, its query budget known to be spent) comes through
 * `knownRefusal` among the read limits, before they spend, and any other hands back what they
 * spent. So a tenant over its budget leaves an address it shares (a NAT, an office) to the other
 * tenants' users behind it.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { InFlightLimit } from "../rate-limit/in-flight.ts";
import { handBackSpentPermits, type RateLimiterHandle, type RequestLimit } from "./rate-limit.ts";

export interface TenantBudgetOptions {
  /** The per-tenant query rate, keyed `tenant:<id>`. */
  limiter: RateLimiterHandle;
  /** Reads one tenant may have in flight in this isolate. */
  maxInFlight: number;
  /**
   * How long a slot counts at most, in case its request is cancelled before it hands it back;
   * longer than the database client's request timeout (8 s). Default 10,000.
   */
  maxHoldMs?: number;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
}

/** Retry-After of a refusal for reads in flight: they last about one database round trip. */
const RETRY_AFTER_BUSY_SECONDS = "1";

export interface TenantBudget {
  /** Among the read limits of `rateLimits`: refuses what the budget already knows it would, spending nothing. */
  knownRefusal: RequestLimit;
  /** After the read limits and the scope check: holds a slot and spends from the query budget. */
  middleware: MiddlewareHandler<AppEnv>;
}

function tenantBusy(): AppError {
  return new AppError({
    status: 429,
    code: "tenant-busy",
    title: "Too many requests",
    detail: "Your organisation has too many reads in progress. Retry in 1 s.",
    headers: { "Retry-After": RETRY_AFTER_BUSY_SECONDS },
  });
}

/**
 * @example const budget = tenantBudget({ limiter: createRateLimiter({ namespace, policy: config.RATE_LIMIT_TENANT_QUERIES }), maxInFlight: 6 });
 * app.use("/metrics/*", rateLimits({ limits: [perIp, budget.knownRefusal] }), budget.middleware)
 */
export function tenantBudget({
  limiter,
  maxInFlight,
  maxHoldMs = 10_000,
  clock = Date.now,
}: TenantBudgetOptions): TenantBudget {
  const inFlight = new InFlightLimit(maxInFlight, maxHoldMs);
  return {
    knownRefusal: (c) => {
      const tenant = c.get("principal").tenant;
      if (inFlight.full(tenant, clock())) throw tenantBusy();
      limiter.refuseIfKnownExhausted(`tenant:${tenant}`);
      return [];
    },
    middleware: async function tenantBudget(c, next) {
      const tenant = c.get("principal").tenant;
      const slot = inFlight.take(tenant, clock());
      if (slot === undefined) {
        handBackSpentPermits(c);
        throw tenantBusy();
      }
      try {
        try {
          await limiter.enforce(c, `tenant:${tenant}`);
        } catch (error) {
          handBackSpentPermits(c);
          throw error;
        }
        await next();
      } finally {
        inFlight.release(slot);
      }
    },
  };
}
