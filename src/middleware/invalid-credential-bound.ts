/**
 * A bound on invalid credentials per network, kept in this isolate's memory. A request without a
 * credential, or with one that fails verification, is answered without a limiter object (a Durable
 * Object per address would let anyone make us pay a call and a write per request); what bounds
 * repeated ones is this: after `policy.limit` such answers to one network (IPv4 /24, IPv6 /64)
 * within its window, that network's further requests on these routes are refused with the 429
 * problem before any credential is verified — no HMAC, no digest, no audit line, no object call.
 *
 * It counts only requests that ended without a principal (authentication refused them, 401 or
 * 403), so a valid credential refused later (a scope, a limit) is never counted, and it refuses
 * only the network that sent them: a valid credential from any other network is never refused by
 * it. From the refused network, a credential that already authenticated in this isolate still
 * passes on to authentication, so a network shared with an attacker (a NAT, a campus) keeps the
 * users it had; a credential first seen there is refused until the window ends: that is the price
 * of answering a flood without verifying it. The table holds only networks that sent an invalid
 * credential, at most `maxNetworks`, the least recently refused forgotten first (OWASP
 * ASVS V2.2.1's anti-automation, per isolate rather than exact across the edge: it shields this
 * isolate's CPU and logs, and needs no I/O).
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { clientKeyFromIp, networkKeysFromIp } from "../rate-limit/client-ip.ts";
import { type RatePolicy, ratePolicy } from "../rate-limit/policy.ts";
import { rateLimitedProblem } from "./rate-limit.ts";

export interface InvalidCredentialBoundOptions {
  /** Invalid credentials one network may present per window. Default `invalid-credentials` 50/minute. */
  policy?: RatePolicy;
  /** Networks remembered at once. Default 10,000. */
  maxNetworks?: number;
  /** The network a request counts against. Default: the IPv4 /24 or IPv6 /64 of `CF-Connecting-IP`. */
  networkOf?: (c: Context<AppEnv>) => string;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** Also send `X-RateLimit-Limit`/`-Remaining`/`-Reset` on a refusal. Default true. */
  legacyHeaders?: boolean;
  /**
   * The credential text a request presents, as authentication sets it in `credential`. Default:
   * `Authorization`, else `X-API-Key`.
   */
  credentialOf?: (c: Context<AppEnv>) => string | undefined;
  /** Credentials that authenticated, remembered at once; a full set starts over. Default 4,096. */
  maxCredentials?: number;
}

interface Tally {
  windowStartMs: number;
  count: number;
}

const presentedHeader = (c: Context<AppEnv>): string | undefined =>
  c.req.header("authorization") ?? c.req.header("x-api-key");

const clientNetwork = (c: Context<AppEnv>): string => {
  const ip = c.req.header("cf-connecting-ip");
  return networkKeysFromIp(ip)["ipv4-24"] ?? clientKeyFromIp(ip);
};

/**
 * Placed before authentication on the routes that need a principal.
 * @example app.use("/metrics/*", invalidCredentialBound({ clock }), authenticate(...))
 */
export function invalidCredentialBound(options: InvalidCredentialBoundOptions = {}): MiddlewareHandler<AppEnv> {
  const policy = options.policy ?? ratePolicy("invalid-credentials", "50/minute", "closed");
  const maxNetworks = options.maxNetworks ?? 10_000;
  const networkOf = options.networkOf ?? clientNetwork;
  const clock = options.clock ?? Date.now;
  const legacyHeaders = options.legacyHeaders ?? true;
  const credentialOf = options.credentialOf ?? presentedHeader;
  const maxCredentials = options.maxCredentials ?? 4_096;
  if (!Number.isInteger(maxNetworks) || maxNetworks < 1) throw new Error("maxNetworks must be a positive integer");
  if (!Number.isInteger(maxCredentials) || maxCredentials < 1)
    throw new Error("maxCredentials must be a positive integer");
  /** Insertion order is recency: a network is moved to the end each time it is counted. */
  const tallies = new Map<string, Tally>();
  // Grows with the principals that use this isolate, not with requests: only what authenticated.
  const authenticated = new Set<string>();

  return async function invalidCredentialBound(c, next) {
    const network = networkOf(c);
    const nowMs = clock();
    const tally = tallies.get(network);
    const current = tally !== undefined && nowMs < tally.windowStartMs + policy.windowMs ? tally : undefined;
    if (current !== undefined && current.count >= policy.limit && !authenticated.has(credentialOf(c) ?? ""))
      throw new AppError(rateLimitedProblem(policy, current.windowStartMs + policy.windowMs, nowMs, legacyHeaders));
    await next();
    // Hono has already turned a thrown refusal into its response here: the status tells. A request
    // with a principal was not refused for its credential, and needs no look at the status (a call
    // into the runtime).
    if (c.get("principal") !== undefined) {
      const credential = c.get("credential");
      if (credential !== undefined && !authenticated.has(credential)) {
        if (authenticated.size >= maxCredentials) authenticated.clear();
        authenticated.add(credential);
      }
      return;
    }
    const status = c.res.status;
    if (status !== 401 && status !== 403) return;
    // One that authenticated before and no longer does (revoked, expired) passes the bound no more.
    if (authenticated.size > 0) authenticated.delete(credentialOf(c) ?? "");
    tallies.delete(network);
    tallies.set(network, { windowStartMs: current?.windowStartMs ?? nowMs, count: (current?.count ?? 0) + 1 });
    if (tallies.size > maxNetworks) tallies.delete(tallies.keys().next().value as string);
  };
}
