/**
 * Flood gate: the cheapest possible answer for a client a per-IP limit has already refused. While
 * the isolate's deny cache says the client is refused on a route, the 429 goes out at once — no
 * other middleware, no Durable Object call — so a flood costs about what a bare route does. The
 * answer copies the first refusal the full chain produced for that policy (the same security
 * headers and problem shape) and fills in this request's id, Retry-After, RateLimit and, for a
 * listed browser origin, the CORS headers the chain would have added; until such a refusal
 * exists, requests take the normal path and meet the same limit there.
 *
 * Two entry points share that answer. `answer` runs before the router, for paths the middleware
 * has already seen routed: routing and a Context cost about a tenth of a bare route, which is the
 * difference between a refusal at ~1.2× and ~1.4× of one (BENCHMARKS.md). `middleware`, first in
 * the chain, answers the rest (a path not yet seen, or one no route matches) and does the learning.
 */
import type { MiddlewareHandler } from "hono";
import { getPath } from "hono/utils/url";
import type { AppEnv } from "../env.ts";
import { problemBody, problemInstance } from "../errors.ts";
import type { DenyCache } from "../rate-limit/deny-cache.ts";
import { policyHeader, type RatePolicy } from "../rate-limit/policy.ts";
import { secondsUntil } from "../rate-limit/window.ts";
import { actualResponseCorsHeaders } from "./cors.ts";
import { rateLimitedProblem } from "./rate-limit.ts";
import { newRequestId } from "./request-id.ts";

export interface FloodGuard {
  /** Exact paths, or `/prefix/*` for everything under a prefix. */
  paths: readonly string[];
  /** A per-IP policy enforced on those paths with the same deny cache. */
  policy: RatePolicy;
}

export interface FloodGateOptions {
  denyCache: DenyCache;
  /** The deny cache's client key for a request's headers, as the per-IP limiter derives it. */
  clientKey: (headers: Headers) => string;
  guards: readonly FloodGuard[];
  /** The CORS allowlist, so a listed browser origin can read the refusal as it could the chain's. */
  allowedOrigins: ReadonlySet<string>;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** Whether refusals carry the legacy `X-RateLimit-*` triple, as the chain's do. Default true. */
  legacyHeaders?: boolean;
  /**
   * Leave plain-http requests to the chain, whose transport check answers them: a credential sent
   * in clear must be reported as exposed, not merely throttled. Default false.
   */
  httpsOnly?: boolean;
}

/** A refusal ready to send but for its request id. */
interface Refusal {
  /**
   * A Headers object, not name/value pairs: the Response constructor copies it natively, where
   * pairs cross from JavaScript one string at a time. With some twenty headers that copy is most of
   * what a refusal costs (BENCHMARKS.md, attribution of full-blocked).
   */
  headers: Headers;
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

export interface FloodGate {
  /** Before routing: a refused client's 429, or undefined to route the request. */
  answer(request: Request): Response | undefined;
  /** First in the chain: answers what `answer` could not, and learns refusals and routed paths. */
  middleware: MiddlewareHandler<AppEnv>;
}

/**
 * @example const gate = floodGate({ denyCache, clientKey, guards: [{ paths: ["/metrics/*"], policy }] });
 * app.use(gate.middleware); const fetch = (request) => gate.answer(request) ?? app.fetch(request);
 */
export function floodGate(options: FloodGateOptions): FloodGate {
  const clock = options.clock ?? Date.now;
  const legacyHeaders = options.legacyHeaders ?? true;
  const httpsOnly = options.httpsOnly ?? false;
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
  // Guarded paths a route matched exactly, so their problem `instance` is the path itself and the
  // answer before routing needs no router. Bounded by the app's routes: other paths never enter.
  const routedPaths = new Set<string>();
  // Refusals built once per (policy, seconds to wait, legacy reset, instance, listed origin) and
  // reused: a flood of one client then costs a lookup, an id and the response itself. At most
  // MAX_REFUSALS; a full map starts over.
  const refusals = new Map<string, Refusal>();

  function refusalFor(
    policy: RatePolicy,
    template: [string, string][],
    retryAfterSeconds: number,
    nowMs: number,
    instance: string,
    listedOrigin: string,
  ): Refusal {
    // The legacy reset moves only with the second the client is refused until, so it is part of
    // the key rather than set on each response.
    const resetSeconds = legacyHeaders ? Math.ceil(nowMs / 1000) + retryAfterSeconds : 0;
    const key = `${policy.name}|${retryAfterSeconds}|${resetSeconds}|${instance}|${listedOrigin}`;
    let refusal = refusals.get(key);
    if (refusal === undefined) {
      const problem = rateLimitedProblem(policy, nowMs + retryAfterSeconds * 1000, nowMs, legacyHeaders);
      refusal = {
        headers: new Headers([
          ...template,
          ...Object.entries(problem.headers ?? {}),
          ...actualResponseCorsHeaders(options.allowedOrigins, listedOrigin),
        ]),
        body: problemBody(problem, instance, REQUEST_ID_SLOT).split(REQUEST_ID_SLOT),
      };
      if (refusals.size >= MAX_REFUSALS) refusals.clear();
      refusals.set(key, refusal);
    }
    return refusal;
  }

  /** The 429 for a refused client of `policy`, or undefined when the client is not refused (or no refusal was learned yet). */
  function refuse(request: Request, policy: RatePolicy, instance: () => string): Response | undefined {
    const template = templates.get(policy.name);
    if (template === undefined) return undefined;
    const nowMs = clock();
    // Read once: each `request.headers` is a call into the runtime.
    const headers = request.headers;
    const blockedUntil = options.denyCache.blockedUntil(`${policy.name}:${options.clientKey(headers)}`, nowMs);
    if (blockedUntil === undefined) return undefined;
    const retryAfterSeconds = Math.max(1, secondsUntil(blockedUntil, nowMs));
    const origin = headers.get("origin");
    // Only a listed origin is part of the key, so clients cannot grow the map by varying Origin.
    const listedOrigin = origin !== null && options.allowedOrigins.has(origin) ? origin : "";
    const refusal = refusalFor(policy, template, retryAfterSeconds, nowMs, instance(), listedOrigin);
    const requestId = newRequestId();
    // Set on the shared headers just before the constructor copies them: one call into the runtime
    // where setting it on the response took two. Every refusal sets its own id before its copy.
    refusal.headers.set("x-request-id", requestId);
    return new Response(refusal.body.join(requestId), { status: 429, headers: refusal.headers });
  }

  // The request `answer` just checked and let through: the router calls `middleware` for it in the
  // same synchronous run, so the check is not repeated there (it reads the client's address and
  // looks up the deny cache again). Any other request is checked in the middleware.
  let passedByAnswer: Request | undefined;

  return {
    answer(request) {
      // A preflight is never limited: the browser must be able to read the 429 that may follow.
      // HEAD goes through Hono, which strips the body a HEAD response must not have.
      const method = request.method;
      if (method === "OPTIONS" || method === "HEAD") return undefined;
      if (httpsOnly && !request.url.startsWith("https:")) return undefined;
      const path = getPath(request);
      if (!routedPaths.has(path)) return undefined;
      const policy = policyFor(path);
      if (policy === undefined) return undefined;
      const refusal = refuse(request, policy, () => path);
      if (refusal === undefined) passedByAnswer = request;
      return refusal;
    },
    middleware: async function floodGate(c, next) {
      if (c.req.method === "OPTIONS" || (httpsOnly && !c.req.url.startsWith("https:"))) return next();
      const checked = passedByAnswer === c.req.raw;
      passedByAnswer = undefined;
      const policy = policyFor(c.req.path);
      if (policy === undefined) return next();
      const refusal = checked ? undefined : refuse(c.req.raw, policy, () => problemInstance(c, REQUEST_ID_SLOT));
      if (refusal !== undefined) return refusal;
      await next();
      if (!routedPaths.has(c.req.path) && problemInstance(c, REQUEST_ID_SLOT) === c.req.path)
        routedPaths.add(c.req.path);
      if (
        !templates.has(policy.name) &&
        c.res.status === 429 &&
        c.res.headers.get("ratelimit-policy") === policyHeader(policy)
      ) {
        templates.set(
          policy.name,
          [...c.res.headers].filter(([name]) => !PER_RESPONSE.has(name)),
        );
      }
    },
  };
}
