/**
 * Rate limiting, exact across the whole edge: each (policy, client key) is counted by one Durable
 * Object (src/rate-limit/durable-object.ts). Answers carry the draft-ietf-httpapi-ratelimit-
 * headers-10 fields `RateLimit-Policy` and `RateLimit`; a refusal is a 429 problem with
 * `Retry-After`. Permits come from the object in small leases spent in the isolate (lease.ts); a
 * key refused once is refused from isolate memory until its window resets, with no Durable Object
 * call. If the limiter cannot answer in time, the policy's fail mode decides.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError, type ProblemInit } from "../errors.ts";
import { clientKeyFromIp } from "../rate-limit/client-ip.ts";
import { DenyCache } from "../rate-limit/deny-cache.ts";
import type { RateLimiter } from "../rate-limit/durable-object.ts";
import { policyHeader, rateLimitHeader, ratePolicy, type RatePolicy } from "../rate-limit/policy.ts";
import { leaseSize, LeaseTable } from "../rate-limit/lease.ts";
import { secondsUntil, type Grant } from "../rate-limit/window.ts";

export interface RateLimitOptions {
  namespace: DurableObjectNamespace<RateLimiter>;
  policy: RatePolicy;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** Shared refusals of this isolate. Default: one cache per limiter. */
  denyCache?: DenyCache;
  /** Permits this isolate holds. Default: one table per limiter. */
  leases?: LeaseTable;
  /** How long to wait for the Durable Object before the fail mode applies. Default 1000. */
  timeoutMs?: number;
}

export interface RateLimiterHandle {
  /** Counts one request for `key`; sets the headers, or throws the 429 (or fail-closed 503) problem. */
  enforce(c: Context<AppEnv>, key: string): Promise<void>;
}

/** Per-IP key from `CF-Connecting-IP` only (IPv6 grouped by /64). */
export const clientIpKey = (c: Context<AppEnv>): string => clientKeyFromIp(c.req.header("cf-connecting-ip"));

class LimiterUnavailableError extends Error {}

/** The 429 problem for `policy`, saying when to retry and nothing about the account or key. */
export function rateLimitedProblem(policy: RatePolicy, resetAtMs: number, nowMs: number): ProblemInit {
  const retryAfter = Math.max(1, secondsUntil(resetAtMs, nowMs));
  return {
    status: 429,
    code: "rate-limited",
    title: "Too many requests",
    detail: `Rate limit exceeded. Retry in ${retryAfter} s.`,
    headers: {
      "RateLimit-Policy": policyHeader(policy),
      RateLimit: rateLimitHeader(policy, 0, retryAfter),
      "Retry-After": String(retryAfter),
    },
  };
}

/**
 * @example const login = createRateLimiter({ namespace: env.RATE_LIMITER, policy: ratePolicy("login-ip", "5/minute", "closed") });
 */
export function createRateLimiter(options: RateLimitOptions): RateLimiterHandle {
  const { namespace, policy } = options;
  const clock = options.clock ?? Date.now;
  const denyCache = options.denyCache ?? new DenyCache();
  const leases = options.leases ?? new LeaseTable();
  const timeoutMs = options.timeoutMs ?? 1000;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error("timeoutMs must be a positive integer");
  const policyField = policyHeader(policy);
  const permitsPerLease = leaseSize(policy.limit);
  // One Durable Object call per key at a time: concurrent requests wait for its lease and share it.
  const pendingGrants = new Map<string, Promise<Grant>>();

  async function askDurableObject(key: string, nowMs: number): Promise<Grant> {
    const stub = namespace.get(namespace.idFromName(`${policy.name}:${key}`));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LimiterUnavailableError("timeout")), timeoutMs);
    });
    try {
      return await Promise.race([stub.acquire(policy.name, policy.limit, policy.windowMs, nowMs, permitsPerLease), timeout]);
    } catch (error) {
      throw error instanceof LimiterUnavailableError ? error : new LimiterUnavailableError(error instanceof Error ? error.name : "error");
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** The shared in-flight grant for `leaseKey`, starting one when none is pending. */
  function grantFor(leaseKey: string, key: string, nowMs: number): Promise<Grant> {
    let pending = pendingGrants.get(leaseKey);
    if (pending === undefined) {
      pending = askDurableObject(key, nowMs).then((grant) => {
        if (grant.granted > 0) leases.store(leaseKey, grant.granted, grant.remaining, grant.resetAtMs);
        else denyCache.block(leaseKey, grant.resetAtMs);
        return grant;
      });
      pendingGrants.set(leaseKey, pending);
      const clear = () => pendingGrants.delete(leaseKey);
      pending.then(clear, clear);
    }
    return pending;
  }

  function refuse(resetAtMs: number, nowMs: number): never {
    throw new AppError(rateLimitedProblem(policy, resetAtMs, nowMs));
  }

  return {
    async enforce(c, key) {
      const nowMs = clock();
      const leaseKey = `${policy.name}:${key}`;
      for (;;) {
        const blockedUntil = denyCache.blockedUntil(leaseKey, nowMs);
        if (blockedUntil !== undefined) refuse(blockedUntil, nowMs);
        const permit = leases.take(leaseKey, nowMs);
        if (permit !== undefined) {
          c.header("RateLimit-Policy", policyField, { append: true });
          c.header("RateLimit", rateLimitHeader(policy, permit.remaining, secondsUntil(permit.resetAtMs, nowMs)), { append: true });
          return;
        }
        try {
          await grantFor(leaseKey, key, nowMs);
        } catch (error) {
          console.error(JSON.stringify({ level: "error", event: "rate_limiter_unavailable", policy: policy.name, fail_mode: policy.failMode, reason: (error as Error).message, request_id: c.get("requestId") }));
          if (policy.failMode === "open") return;
          throw new AppError({
            status: 503,
            code: "rate-limiter-unavailable",
            title: "Service temporarily unavailable",
            detail: "The request could not be checked against its rate limit. Try again shortly.",
            headers: { "Retry-After": "5" },
          });
        }
        // The grant is now a lease to spend or a refusal to honour: go round once more.
      }
    },
  };
}

/**
 * Limits every request of a route by client IP.
 * @example app.use("/metrics/*", rateLimit({ namespace: env.RATE_LIMITER, policy: config.RATE_LIMIT_METRICS }))
 */
export function rateLimit(options: RateLimitOptions & { key?: (c: Context<AppEnv>) => string }): MiddlewareHandler<AppEnv> {
  const limiter = createRateLimiter(options);
  const keyOf = options.key ?? clientIpKey;
  return async function rateLimit(c, next) {
    await limiter.enforce(c, keyOf(c));
    await next();
  };
}

/**
 * After authentication: a machine client whose API key carries its own policy (in its signed
 * claims or its API_KEYS entry) is also limited by key id, wherever it calls from. Keys carry the
 * policy, so a limiter is made per distinct policy on first use rather than per key up front.
 * @example app.use("/metrics/*", apiKeyRateLimit({ namespace: env.RATE_LIMITER }))
 */
export function apiKeyRateLimit(options: Omit<RateLimitOptions, "policy">): MiddlewareHandler<AppEnv> {
  const limiters = new Map<string, RateLimiterHandle>();
  return async function apiKeyRateLimit(c, next) {
    const principal = c.get("principal");
    if (principal.kind === "api-key" && principal.rateLimit !== undefined) {
      let limiter = limiters.get(principal.rateLimit);
      if (limiter === undefined) {
        limiter = createRateLimiter({ ...options, policy: ratePolicy("api-key", principal.rateLimit, "open") });
        limiters.set(principal.rateLimit, limiter);
      }
      await limiter.enforce(c, `key:${principal.subject}`);
    }
    await next();
  };
}
