/**
 * Rate limiting, exact across the whole edge: each (policy, client key) is counted by one Durable
 * Object (src/rate-limit/durable-object.ts), on the object's own clock. Answers carry the
 * draft-ietf-httpapi-ratelimit-headers-10 fields `RateLimit-Policy` and `RateLimit` and, unless
 * switched off, the legacy `X-RateLimit-Limit`/`-Remaining`/`-Reset` triple that most client
 * libraries read; a refusal is a 429 problem with `Retry-After`. Permits come from the object in
 * leases spent in the isolate (lease.ts). Only a key the object calls exhausted is refused from
 * isolate memory until its window resets; a refusal while permits are on their way back says
 * "retry in a moment" and is not cached. If the limiter cannot answer in time, the policy's fail
 * mode decides; failing open admits at most one request per client key, isolate and interval
 * (fail-open.ts), whatever the failure.
 */
import type { Context, MiddlewareHandler } from "hono";
import { audit, auditClient } from "../audit.ts";
import type { AppEnv } from "../env.ts";
import { AppError, type ProblemInit } from "../errors.ts";
import { clientKeyFromIp } from "../rate-limit/client-ip.ts";
import { DenyCache } from "../rate-limit/deny-cache.ts";
import type { Grant, RateLimiter, Release } from "../rate-limit/durable-object.ts";
import { FailOpenAllowance } from "../rate-limit/fail-open.ts";
import { LeaseTable } from "../rate-limit/lease.ts";
import { policyHeader, type RatePolicy, rateLimitHeader, ratePolicy } from "../rate-limit/policy.ts";
import { limiterUnavailable, logLimiterUnavailable } from "../rate-limit/unavailable.ts";
import { secondsUntil } from "../rate-limit/window.ts";

export interface RateLimitOptions {
  namespace: DurableObjectNamespace<RateLimiter>;
  policy: RatePolicy;
  /** Epoch ms of this isolate; used for lease expiry and header arithmetic only. Default `Date.now`. */
  clock?: () => number;
  /** Shared refusals of this isolate. Default: one cache per limiter. */
  denyCache?: DenyCache;
  /** Permits this isolate holds. Default: one table per limiter. */
  leases?: LeaseTable;
  /** How long to wait for the Durable Object before the fail mode applies. Default 1000. */
  timeoutMs?: number;
  /** Also send `X-RateLimit-Limit`/`-Remaining`/`-Reset`. Default true. */
  legacyHeaders?: boolean;
}

/**
 * How often a fail-open policy admits one client while its limiter fails: the policy's own average
 * spacing (60 s / 100 for `100/minute`), and never more often than once per timeout.
 */
export function failOpenIntervalMs(policy: RatePolicy, timeoutMs: number): number {
  return Math.max(timeoutMs, Math.ceil(policy.windowMs / policy.limit));
}

/** A permit that was counted, and can be handed back when the attempt should not count after all. */
export interface Permit {
  windowStartMs: number;
}

export interface RateLimiterHandle {
  readonly policy: RatePolicy;
  /**
   * Counts one request for `key`; sets the headers, or throws the 429 (or fail-closed 503)
   * problem. Returns the permit, or undefined when the limiter was unavailable and failed open.
   */
  enforce(c: Context<AppEnv>, key: string): Promise<Permit | undefined>;
  /** Hands a permit back, so that the request it admitted does not count (a successful login). */
  refund(c: Context<AppEnv>, key: string, permit: Permit): void;
  /**
   * Throws the 429 problem when this isolate already knows `key` is exhausted and holds no permit
   * for it; spends nothing and calls no object either way.
   */
  refuseIfKnownExhausted(key: string): void;
}

/** Per-IP key from `CF-Connecting-IP` only (IPv6 grouped by /64). */
export const clientIpKey = (c: Context<AppEnv>): string => clientKeyFromIp(c.req.header("cf-connecting-ip"));

/**
 * Per-principal key, after authentication: a user (by tenant and name, whichever session or token
 * it presents) or an API key (by id).
 */
export const principalKey = (c: Context<AppEnv>): string => {
  const principal = c.get("principal");
  return `${principal.kind}:${principal.tenant}:${principal.subject}`;
};

class LimiterUnavailableError extends Error {
  /** The call that did not answer in time, which may still grant: settled by whoever applies the fail mode. */
  late?: Promise<Grant>;
}

/** An object call in flight for one key, as the requests waiting for it see it. */
interface Asking {
  startedMs: number;
  /** Set when the call brought nothing and its client is to retry at this time: so are its waiters. */
  retryAtMs?: number;
}

/**
 * How long a request may wait here for leases other requests of its client are fetching, in
 * timeouts: a burst waits through several calls in a row, each of which has its own timeout.
 */
const MAX_WAIT_IN_TIMEOUTS = 3;
/**
 * How a waiting request looks again: when the call it waits for should have ended (by the recent
 * calls' latency), then after twice as long each time, from WAITER_MIN_POLL_MS up to
 * WAITER_MAX_POLL_MS. Each waits on a timer of its own: a request woken by another request's
 * promise runs on in that request's context, and workerd cancels it as hung ("Promise will never
 * complete": 291 of a 300-request burst sent 50 at a time). Few polls per waiter keep a large
 * burst from starving the very call it waits for.
 */
const WAITER_MIN_POLL_MS = 10;
const WAITER_MAX_POLL_MS = 160;
/** How long after its timeout an object call's grant is still awaited, to be handed back. */
const LATE_GRANT_WAIT_MS = 10_000;
/** Retry-After of a refusal that is about this isolate's queue, not about the client's allowance. */
const RETRY_SHORTLY_MS = 1_000;

/** Response headers for `policy` with `remaining` permits and a reset `resetSeconds` from `nowMs`. */
export function rateLimitHeaders(
  policy: RatePolicy,
  remaining: number,
  resetSeconds: number,
  nowMs: number,
  legacyHeaders: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    "RateLimit-Policy": policyHeader(policy),
    RateLimit: rateLimitHeader(policy, remaining, resetSeconds),
  };
  if (legacyHeaders) {
    headers["X-RateLimit-Limit"] = String(policy.limit);
    headers["X-RateLimit-Remaining"] = String(remaining);
    headers["X-RateLimit-Reset"] = legacyReset(nowMs, resetSeconds);
  }
  return headers;
}

/** `X-RateLimit-Reset`: epoch seconds, as GitHub and express-rate-limit send it. */
function legacyReset(nowMs: number, resetSeconds: number): string {
  return String(Math.ceil(nowMs / 1000) + resetSeconds);
}

/** Repeated limits add to the RateLimit fields: each names its own policy. */
const APPEND = { append: true } as const;

/**
 * The rate-limit fields of the limits a request passed, written to the response together: each
 * header set crosses into the runtime, so three limits cost two writes of RateLimit-Policy and
 * RateLimit (their lists joined, which `headers.get` reads as it read the repeated appends) instead
 * of six, and one legacy triple instead of up to three.
 */
export class RateLimitFields {
  readonly policies: string[] = [];
  readonly rateLimits: string[] = [];
  /** X-RateLimit-Limit, -Remaining and -Reset of the policy closest to refusing, when it is one of these. */
  legacy: [string, string, string] | undefined;

  write(c: Context<AppEnv>): void {
    if (this.policies.length === 0) return;
    c.header("RateLimit-Policy", this.policies.join(", "), APPEND);
    c.header("RateLimit", this.rateLimits.join(", "), APPEND);
    if (this.legacy === undefined) return;
    c.header("X-RateLimit-Limit", this.legacy[0]);
    c.header("X-RateLimit-Remaining", this.legacy[1]);
    c.header("X-RateLimit-Reset", this.legacy[2]);
  }
}

/** The 429 problem for `policy`, saying when to retry and nothing about the account or key. */
export function rateLimitedProblem(
  policy: RatePolicy,
  retryAtMs: number,
  nowMs: number,
  legacyHeaders: boolean,
): ProblemInit {
  const retryAfter = Math.max(1, secondsUntil(retryAtMs, nowMs));
  return {
    status: 429,
    code: "rate-limited",
    title: "Too many requests",
    detail: `Rate limit exceeded. Retry in ${retryAfter} s.`,
    headers: { ...rateLimitHeaders(policy, 0, retryAfter, nowMs, legacyHeaders), "Retry-After": String(retryAfter) },
  };
}

/** Runs `task` after the response, on the request's waitUntil when there is one. */
function afterResponse(c: Context<AppEnv>, task: () => Promise<unknown>): void {
  const work = Promise.resolve()
    .then(task)
    .catch(() => undefined);
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    // No execution context (a unit test calling app.request): the promise still runs on its own.
  }
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
  const legacyHeaders = options.legacyHeaders ?? true;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error("timeoutMs must be a positive integer");
  /** Where the client key starts in a lease key (`policy:key`). */
  const keyOffset = policy.name.length + 1;
  const stubFor = (key: string) => namespace.get(namespace.idFromName(`${policy.name}:${key}`));
  const failOpen = new FailOpenAllowance(failOpenIntervalMs(policy, timeoutMs));
  const policyField = policyHeader(policy);
  const limitField = String(policy.limit);

  async function withTimeout<T>(call: Promise<T>, waitMs = timeoutMs): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LimiterUnavailableError("timeout")), waitMs);
    });
    try {
      return await Promise.race([call, timeout]);
    } catch (error) {
      throw error instanceof LimiterUnavailableError
        ? error
        : new LimiterUnavailableError(error instanceof Error ? error.name : "error");
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  function handBack(key: string, release: Release | undefined): Promise<unknown> {
    return release === undefined
      ? Promise.resolve()
      : withTimeout(stubFor(key).release(policy.name, release, leases.holder));
  }

  /**
   * Keys with an object call in flight from this isolate: when it started (platform clock), and
   * what it brought back for the requests waiting for it. No request awaits another request's
   * promise or I/O.
   */
  const asking = new Map<string, Asking>();
  /** Recent object calls' latency in this isolate, a moving average: when waiters look again. */
  let callLatencyMs = WAITER_MIN_POLL_MS;

  /**
   * Asks the object for a lease within this request. An object call belongs to the request that
   * made it: the runtime may cancel it when that request ends, and no other request may wait on its
   * I/O. The lease it brings is pooled with any permits this isolate still holds for the client.
   */
  async function askForLease(c: Context<AppEnv>, leaseKey: string, key: string, nowMs: number): Promise<Grant> {
    const { wanted, returned } = leases.ask(leaseKey, nowMs, policy.limit);
    const request = {
      policy: policy.name,
      limit: policy.limit,
      windowMs: policy.windowMs,
      holder: leases.holder,
      wanted,
      ...(returned === undefined ? {} : { returned }),
    };
    const call = stubFor(key).acquire(request);
    let grant: Grant;
    try {
      grant = await withTimeout(call);
    } catch (error) {
      if (error instanceof LimiterUnavailableError) error.late = call;
      throw error;
    }
    if (grant.granted > 0) {
      leases.store(leaseKey, grant, nowMs);
      denyCache.unblock(leaseKey);
    } else if (grant.exhausted && !leases.holds(leaseKey, nowMs)) {
      // Not while this isolate still holds a permit for the client (another request's call brought
      // it): cached, the refusal would strand that permit for the rest of the window.
      denyCache.block(leaseKey, nowMs + grant.resetAfterMs);
      // Once per client and isolate until the window resets: later refusals come from the deny cache.
      audit({
        action: "rate_limit.exhausted",
        outcome: "refused",
        reason: policy.name,
        subject: key,
        requestId: c.get("requestId"),
        ...auditClient(c),
      });
    }
    return grant;
  }

  /**
   * A call that answers after its timeout still granted: its permits pay for the request admitted
   * in its place, if one was (`spentPermits`), and the rest go back, or nobody would spend them.
   */
  function settleLate(c: Context<AppEnv>, key: string, late: Promise<Grant> | undefined, spentPermits: number): void {
    if (late === undefined) return;
    afterResponse(c, async () => {
      const grant = await withTimeout(late, LATE_GRANT_WAIT_MS);
      const unspent = grant.granted - Math.min(spentPermits, grant.granted);
      if (unspent === 0) return;
      await withTimeout(stubFor(key).release(policy.name, { windowStartMs: grant.windowStartMs, permits: unspent }));
    });
  }

  function refuse(retryAtMs: number, nowMs: number): never {
    throw new AppError(rateLimitedProblem(policy, retryAtMs, nowMs, legacyHeaders));
  }

  return {
    policy,
    async enforce(c, key) {
      const nowMs = clock();
      const arrivedMs = Date.now();
      const leaseKey = `${policy.name}:${key}`;
      let pollMs = 0;
      // Expired leases of any client go back to their objects from this request, after its response.
      for (const expired of leases.sweep(nowMs, leaseKey)) {
        afterResponse(c, () => handBack(expired.key.slice(keyOffset), expired.release));
      }
      for (;;) {
        // A permit in hand was granted by the object, so it is spent before any cached refusal.
        const permit = leases.take(leaseKey, nowMs);
        const blockedUntil = permit === undefined ? denyCache.blockedUntil(leaseKey, nowMs) : undefined;
        if (blockedUntil !== undefined) refuse(blockedUntil, nowMs);
        if (permit !== undefined) {
          const resetSeconds = secondsUntil(permit.resetAtMs, nowMs);
          const collecting = c.get("rateLimitFields");
          const fields = collecting ?? new RateLimitFields();
          fields.policies.push(policyField);
          fields.rateLimits.push(rateLimitHeader(policy, permit.remaining, resetSeconds));
          // The legacy triple has room for one policy: the one closest to refusing.
          const tightest = c.get("rateLimitRemaining");
          if (legacyHeaders && (tightest === undefined || permit.remaining < tightest)) {
            c.set("rateLimitRemaining", permit.remaining);
            fields.legacy = [limitField, String(permit.remaining), legacyReset(nowMs, resetSeconds)];
          }
          // Outside rateLimits (a limit a route applies itself), nobody collects: written at once.
          if (collecting === undefined) fields.write(c);
          return { windowStartMs: permit.windowStartMs };
        }
        // One object call per key in flight per isolate: a burst of one client waits for the lease
        // that call brings instead of queueing hundreds of calls at its object. A waiter never
        // applies the fail mode, which is for an object that does not answer, not for a queue: one
        // that has waited too long is told to retry shortly (not cached). A call older than twice
        // the timeout belongs to a request cancelled before it could clear it, and no longer counts.
        const inFlight = asking.get(leaseKey);
        if (inFlight !== undefined && Date.now() - inFlight.startedMs < 2 * timeoutMs) {
          const waitLeftMs = MAX_WAIT_IN_TIMEOUTS * timeoutMs - (Date.now() - arrivedMs);
          if (waitLeftMs <= 0) refuse(nowMs + RETRY_SHORTLY_MS, nowMs);
          const dueInMs = inFlight.startedMs + callLatencyMs - Date.now();
          pollMs = pollMs === 0 ? Math.max(WAITER_MIN_POLL_MS, dueInMs) : Math.min(2 * pollMs, WAITER_MAX_POLL_MS);
          await new Promise<void>((resolve) => setTimeout(resolve, Math.min(pollMs, waitLeftMs)));
          if (inFlight.retryAtMs !== undefined) refuse(inFlight.retryAtMs, nowMs);
          continue;
        }
        const mine: Asking = { startedMs: Date.now() };
        asking.set(leaseKey, mine);
        let grant: Grant;
        try {
          grant = await askForLease(c, leaseKey, key, nowMs);
        } catch (error) {
          logLimiterUnavailable(c, policy.name, policy.failMode, error);
          if (policy.failMode === "open") {
            // Waiters are this client's other requests: past the one admission they wait for the next interval.
            const { admitted, nextAdmitAtMs } = failOpen.take(leaseKey, nowMs);
            settleLate(c, key, (error as LimiterUnavailableError).late, admitted ? 1 : 0);
            mine.retryAtMs = nextAdmitAtMs;
            if (admitted) return undefined;
            refuse(nextAdmitAtMs, nowMs);
          }
          settleLate(c, key, (error as LimiterUnavailableError).late, 0);
          throw limiterUnavailable();
        } finally {
          if (asking.get(leaseKey) === mine) asking.delete(leaseKey);
          callLatencyMs += (Math.min(Date.now() - mine.startedMs, timeoutMs) - callLatencyMs) / 4;
        }
        if (grant.granted === 0) {
          mine.retryAtMs = nowMs + grant.retryAfterMs;
          refuse(mine.retryAtMs, nowMs);
        }
        // A lease arrived: spend from it (pooled with any that concurrent requests brought), or ask again.
      }
    },
    refund(c, key, permit) {
      afterResponse(c, () =>
        withTimeout(stubFor(key).release(policy.name, { windowStartMs: permit.windowStartMs, permits: 1 })),
      );
    },
    refuseIfKnownExhausted(key) {
      const nowMs = clock();
      const leaseKey = `${policy.name}:${key}`;
      if (leases.holds(leaseKey, nowMs)) return;
      const blockedUntil = denyCache.blockedUntil(leaseKey, nowMs);
      if (blockedUntil !== undefined) refuse(blockedUntil, nowMs);
    },
  };
}

/** One limiter and the key a request spends a permit under. */
export interface LimitCall {
  limiter: RateLimiterHandle;
  key: string;
}

/** A permit a request spent under one limiter and key: what a later refusal hands back. */
export interface SpentPermit extends LimitCall {
  permit: Permit;
}

/**
 * One limit on a request: the limiters and keys it spends under (none when it does not apply).
 * Called before anything is spent, it throws the 429 for a key this isolate already knows to be
 * exhausted, so a known refusal spends nothing and calls no object.
 */
export type RequestLimit = (c: Context<AppEnv>) => readonly LimitCall[];

/**
 * Spends a permit of each limiter in turn; when one refuses, hands back what the ones before it
 * spent and rethrows its refusal. So a limit's permit is spent only by a request every limit before
 * it admitted, and a client refused by its own limit costs whoever shares the others nothing: the
 * rule of the network tiers (reads and logins) and of the limits of an authenticated read.
 */
export async function enforceInOrder(c: Context<AppEnv>, calls: readonly LimitCall[]): Promise<SpentPermit[]> {
  const spent: SpentPermit[] = [];
  for (const { limiter, key } of calls) {
    try {
      const permit = await limiter.enforce(c, key);
      if (permit !== undefined) spent.push({ limiter, key, permit });
    } catch (error) {
      handBack(c, spent);
      throw error;
    }
  }
  return spent;
}

function handBack(c: Context<AppEnv>, spent: readonly SpentPermit[]): void {
  for (const { limiter, key, permit } of spent) limiter.refund(c, key, permit);
}

/**
 * Hands back what `rateLimits` spent for this request: for a limit further down the chain that
 * refuses it (the tenant's database budget), so that refusal too costs the request's address and
 * principal nothing.
 */
export function handBackSpentPermits(c: Context<AppEnv>): void {
  const spent = c.get("spentPermits");
  c.set("spentPermits", undefined);
  if (spent !== undefined) handBack(c, spent);
}

/**
 * Limits in one middleware layer: every layer of Hono's chain costs about 1 µs a request
 * (BENCHMARKS.md), and an authenticated read passes three limits. Each limit's known refusal comes
 * first; then the limits spend in the order given, and a refusal hands back what the limits before
 * it spent (an API key past its own `rl` spends nothing of the address it calls from). Their headers
 * are written together once the last has admitted, or once one refuses.
 * @example app.use("/metrics/*", rateLimits({ limits: [perIp, perPrincipal] }))
 */
export function rateLimits({ limits }: { limits: readonly RequestLimit[] }): MiddlewareHandler<AppEnv> {
  return async function rateLimits(c, next) {
    const fields = new RateLimitFields();
    c.set("rateLimitFields", fields);
    try {
      const calls: LimitCall[] = [];
      for (const limit of limits) calls.push(...limit(c));
      // Only when something applies: an await costs a turn of the microtask queue.
      if (calls.length > 0) c.set("spentPermits", await enforceInOrder(c, calls));
    } finally {
      c.set("rateLimitFields", undefined);
      fields.write(c);
    }
    await next();
  };
}

/**
 * Limits every request by one key, the client IP unless `key` says otherwise.
 * @example rateLimits({ limits: [keyedLimit({ namespace: env.RATE_LIMITER, policy, key: principalKey })] })
 */
export function keyedLimit(options: RateLimitOptions & { key?: (c: Context<AppEnv>) => string }): RequestLimit {
  const limiter = createRateLimiter(options);
  const keyOf = options.key ?? clientIpKey;
  return (c) => {
    const key = keyOf(c);
    limiter.refuseIfKnownExhausted(key);
    return [{ limiter, key }];
  };
}

/**
 * Limits every request of a route by client IP.
 * @example app.use("/metrics/*", rateLimit({ namespace: env.RATE_LIMITER, policy: config.RATE_LIMIT_METRICS }))
 */
export function rateLimit(
  options: RateLimitOptions & { key?: (c: Context<AppEnv>) => string },
): MiddlewareHandler<AppEnv> {
  return rateLimits({ limits: [keyedLimit(options)] });
}

/**
 * After authentication: a machine client whose API key carries its own policy (in its signed
 * claims or its API_KEYS entry) is also limited by key id, wherever it calls from. Keys carry the
 * policy, so a limiter is made per distinct policy on first use rather than per key up front.
 * @example rateLimits({ limits: [apiKeyLimit({ namespace: env.RATE_LIMITER })] })
 */
export function apiKeyLimit(options: Omit<RateLimitOptions, "policy">): RequestLimit {
  const limiters = new Map<string, RateLimiterHandle>();
  return function apiKeyLimit(c) {
    const principal = c.get("principal");
    if (principal.kind !== "api-key" || principal.rateLimit === undefined) return [];
    let limiter = limiters.get(principal.rateLimit);
    if (limiter === undefined) {
      limiter = createRateLimiter({ ...options, policy: ratePolicy("api-key", principal.rateLimit, "open") });
      limiters.set(principal.rateLimit, limiter);
    }
    const key = `key:${principal.subject}`;
    limiter.refuseIfKnownExhausted(key);
    return [{ limiter, key }];
  };
}
