/**
 * Read limits per client and per wider network. A client is an IPv4 address or an IPv6 /64, and
 * a free tunnel-broker /48 holds 65,536 /64s: limited per client alone, one holder of a /48 could
 * send 65,536 times the per-client allowance. So the /56 and /48 the client belongs to have an
 * allowance each as well. The tiers run narrowest first, so a wider network's permit is spent only
 * by a request every narrower tier admitted, and a request a wider tier refuses hands back what the
 * narrower ones spent: a client refused by its own limit costs its neighbours nothing (the rule of
 * the login tiers, src/auth/sign-in.ts). Before anything is spent, a tier this isolate already
 * knows to be exhausted refuses from memory, so a flood from a refused network costs no object
 * call per request, not even for its new /64s.
 */
import type { LimitCall, RateLimiterHandle, RequestLimit } from "./rate-limit.ts";

export interface RateLimitTier {
  limiter: RateLimiterHandle;
  /**
   * The tier's key for the client's `CF-Connecting-IP` (the only address trusted, client-ip.ts), or
   * undefined when the tier does not apply (an IPv6 tier for IPv4). Given the header rather than the
   * context, so a request reads it once for all its tiers: each read crosses into the runtime.
   */
  keyOf: (clientIp: string | undefined) => string | undefined;
}

export interface NetworkRateLimitOptions {
  /** Narrowest first: the client's own limit, then each wider network. At least one. */
  tiers: readonly RateLimitTier[];
}

/**
 * The limiter calls of the tiers that apply to `clientIp`, narrowest first; throws the refusal of
 * the first this isolate already knows to be exhausted, before anything is spent.
 */
export function tierCalls(tiers: readonly RateLimitTier[], clientIp: string | undefined): LimitCall[] {
  const calls: LimitCall[] = [];
  for (const { limiter, keyOf } of tiers) {
    const key = keyOf(clientIp);
    if (key === undefined) continue;
    limiter.refuseIfKnownExhausted(key);
    calls.push({ limiter, key });
  }
  return calls;
}

/**
 * The per-network limit as one step of `rateLimits` (rate-limit.ts).
 * @example app.use("/metrics/*", rateLimits({ limits: [networkLimit({ tiers: [{ limiter: perClient, keyOf: clientKeyFromIp }, { limiter: per48, keyOf: ipv6Network48 }] })] }))
 */
export function networkLimit({ tiers }: NetworkRateLimitOptions): RequestLimit {
  if (tiers.length === 0) throw new Error("networkLimit needs at least one tier");
  return (c) => tierCalls(tiers, c.req.header("cf-connecting-ip"));
}
