/**
 * CORS from an exact origin allowlist (Fetch standard; scheme, host and port compared as one
 * serialized origin, never as a pattern or regex). A listed origin's preflight is answered by
 * Hono's `cors` (credentials, GET/POST, the Authorization, Content-Type and X-CSRF-Token headers,
 * max-age) and its actual requests, errors and 429s included, get Allow-Origin, Allow-Credentials
 * and Expose-Headers naming the rate-limit headers and the request id, so page script can pace
 * itself and quote the id; any other origin — `null`,
 * http for an https entry, look-alike prefixes and suffixes, other ports — gets no CORS header at
 * all, and its preflight a 403 problem, so the browser blocks it. `Vary: Origin` is on every response.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { isHostname } from "./trusted-host.ts";

/** Parses one ALLOWED_ORIGINS entry; throws unless it is already a serialized http(s) origin. */
export function parseAllowedOrigin(entry: string): string {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new Error(`not an origin: ${JSON.stringify(entry)}`);
  }
  const hostOk = isHostname(url.hostname) || /^\[[0-9a-f:.]+\]$/.test(url.hostname);
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.origin !== entry || !hostOk) {
    throw new Error(
      `not a serialized http(s) origin (scheme://host[:port], lower case, no path): ${JSON.stringify(entry)}`,
    );
  }
  return entry;
}

export interface CorsAllowlistOptions {
  /** Serialized origins, each checked by `parseAllowedOrigin`. */
  allowedOrigins: readonly string[];
  /** Default 3600. */
  maxAgeSeconds?: number;
}

/** Response headers a listed origin's page may read beyond the CORS-safelisted ones. */
export const EXPOSED_HEADERS =
  "RateLimit, RateLimit-Policy, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Id";

/** The headers an actual (non-preflight) response carries for `origin`: none unless it is listed. */
export function actualResponseCorsHeaders(
  allowed: ReadonlySet<string>,
  origin: string | undefined,
): [string, string][] {
  return origin !== undefined && allowed.has(origin)
    ? [
        ["Access-Control-Allow-Origin", origin],
        ["Access-Control-Allow-Credentials", "true"],
        ["Access-Control-Expose-Headers", EXPOSED_HEADERS],
      ]
    : [];
}

/**
 * @example app.use(corsAllowlist({ allowedOrigins: ["https://app.example.com"] }))
 */
export function corsAllowlist(options: CorsAllowlistOptions): MiddlewareHandler<AppEnv> {
  const allowed = new Set(options.allowedOrigins.map(parseAllowedOrigin));
  const preflight = cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    credentials: true,
    allowMethods: ["GET", "POST"],
    allowHeaders: ["Authorization", "Content-Type", "X-CSRF-Token"],
    maxAge: options.maxAgeSeconds ?? 3600,
  });
  // Built once per listed origin: the answer for a listed origin never changes.
  const exposedTo = new Map([...allowed].map((origin) => [origin, actualResponseCorsHeaders(allowed, origin)]));
  return async function corsAllowlist(c, next) {
    const origin = c.req.header("origin");
    if (
      origin !== undefined &&
      c.req.method === "OPTIONS" &&
      c.req.header("access-control-request-method") !== undefined
    ) {
      if (allowed.has(origin)) return preflight(c, next);
      c.header("Vary", "Origin");
      throw new AppError({
        status: 403,
        code: "origin-not-allowed",
        title: "Origin not allowed",
        detail: "Cross-origin requests from this origin are not allowed.",
      });
    }
    await next();
    // Set on the final response rather than through hono/cors, which writes them to a placeholder
    // that Hono then copies into the route's response twice (about 20 µs a request; BENCHMARKS.md).
    const headers = c.res.headers;
    // The answer depends on Origin even when it is refused: caches must not reuse it across origins.
    headers.append("Vary", "Origin");
    const listed = origin === undefined ? undefined : exposedTo.get(origin);
    if (listed !== undefined) for (const [name, value] of listed) headers.set(name, value);
  };
}
