/**
 * Flood gate: the cheapest possible answer for a client a per-IP limit has already refused. It
 * runs first; while the isolate's deny cache says the client is refused on this route, it answers
 * the 429 at once — no other middleware, no Durable Object call — so a flood costs about what a
 * bare route does. The answer copies the first refusal the full chain produced for that policy
 * (the same security headers and problem shape) and fills in this request's id, Retry-After,
 * RateLimit and, for a listed browser origin, the CORS headers the chain would have added; until
 * such a refusal exists, requests take the normal path and meet the same limit there.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { problemBody, problemInstance } from "../errors.ts";
import { actualResponseCorsHeaders } from "./cors.ts";
import type { DenyCache } from "../rate-limit/deny-cache.ts";
import { policyHeader, type RatePolicy } from "../rate-limit/policy.ts";
import { secondsUntil } from "../rate-limit/window.ts";
import { rateLimitedProblem } from "./rate-limit.ts";

export interface FloodGuard {
  /** Exact paths, or `/prefix/*` for everything under a prefix. */
  paths: readonly string[];
  /** A per-IP policy enforced on those paths with the same deny cache. */
  policy: RatePolicy;
}

export interface FloodGateOptions {
  denyCache: DenyCache;
  clientKey: (c: Context<AppEnv>) => string;
  guards: readonly FloodGuard[];
  /** The CORS allowlist, so a listed browser origin can read the refusal as it could the chain's. */
  allowedOrigins: ReadonlySet<string>;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** Whether refusals carry the legacy `X-RateLimit-*` triple, as the chain's do. Default true. */
  legacyHeaders?: boolean;
}

/** A refusal ready to send but for its request id (and the legacy reset, which moves each second). */
interface Refusal {
  headers: [string, string][];
  /** The problem body split where the request id goes. */
  body: string[];
}

/** Stands for the request id while a refusal is built, then marks where each request's id goes. */
const REQUEST_ID_SLOT = "{request-id}";
const MAX_REFUSALS = 1_000;

/** Headers that belong to one response, not to the template. */
const PER_RESPONSE = new Set([
  "x-request-id",
  "ratelimit",
  "ratelimit-policy",
  "retry-after",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset",
  "content-length",
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-expose-headers",
]);

/**
 * @example app.use(floodGate({ denyCache, clientKey: clientIpKey, guards: [{ paths: ["/metrics/*"], policy }] }))
 */
export function floodGate(options: FloodGateOptions): MiddlewareHandler<AppEnv> {
  const clock = options.clock ?? Date.now;
  const legacyHeaders = options.legacyHeaders ?? true;
  const exact = new Map<string, RatePolicy>();
  const prefixes: [string, RatePolicy][] = [];
  for (const { paths, policy } of options.guards) {
    for (const path of paths) {
      if (path.endsWith("/*")) prefixes.push([path.slice(0, -1), policy]);
      else exact.set(path, policy);
    }
  }
  const policyFor = (path: string) => exact.get(path) ?? prefixes.find(([prefix]) => path.startsWith(prefix))?.[1];
  const templates = new Map<string, [string, string][]>();
  // Refusals built once per (policy, seconds to wait, instance) and reused: a flood of one client
  // then costs a lookup, an id and the response itself. Bounded by routes × window seconds.
  const refusals = new Map<string, Refusal>();

  function refusalFor(policy: RatePolicy, template: [string, string][], retryAfterSeconds: number, nowMs: number, instance: string): Refusal {
    const key = `${policy.name}|${retryAfterSeconds}|${instance}`;
    let refusal = refusals.get(key);
    if (refusal === undefined) {
      const problem = rateLimitedProblem(policy, nowMs + retryAfterSeconds * 1000, nowMs, legacyHeaders);
      const perResponse = Object.entries(problem.headers ?? {}).filter(([name]) => name !== "X-RateLimit-Reset");
      refusal = { headers: [...template, ...perResponse], body: problemBody(problem, instance, REQUEST_ID_SLOT).split(REQUEST_ID_SLOT) };
      if (refusals.size >= MAX_REFUSALS) refusals.clear();
      refusals.set(key, refusal);
    }
    return refusal;
  }

  return async function floodGate(c, next) {
    // A preflight is never limited: the browser must be able to read the 429 that may follow.
    if (c.req.method === "OPTIONS") return next();
    const policy = policyFor(c.req.path);
    const template = policy !== undefined ? templates.get(policy.name) : undefined;
    if (policy !== undefined && template !== undefined) {
      const nowMs = clock();
      const blockedUntil = options.denyCache.blockedUntil(`${policy.name}:${options.clientKey(c)}`, nowMs);
      if (blockedUntil !== undefined) {
        const retryAfterSeconds = Math.max(1, secondsUntil(blockedUntil, nowMs));
        const refusal = refusalFor(policy, template, retryAfterSeconds, nowMs, problemInstance(c, REQUEST_ID_SLOT));
        const requestId = crypto.randomUUID();
        const headers: [string, string][] = [...refusal.headers, ["x-request-id", requestId]];
        if (legacyHeaders) headers.push(["X-RateLimit-Reset", String(Math.ceil(nowMs / 1000) + retryAfterSeconds)]);
        const origin = c.req.header("origin");
        if (origin !== undefined) headers.push(...actualResponseCorsHeaders(options.allowedOrigins, origin));
        return new Response(refusal.body.join(requestId), { status: 429, headers });
      }
    }
    await next();
    if (policy !== undefined && c.res.status === 429 && !templates.has(policy.name) && c.res.headers.get("ratelimit-policy") === policyHeader(policy)) {
      templates.set(
        policy.name,
        [...c.res.headers].filter(([name]) => !PER_RESPONSE.has(name)),
      );
    }
  };
}
