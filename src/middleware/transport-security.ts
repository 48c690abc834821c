/**
 * HTTPS only (RFC 9110 §15.4.9 for the 308; RFC 6797 for HSTS). Plain-http GET/HEAD is redirected
 * to the same URL on https, which keeps the method; any other plain-http request is refused rather
 * than redirected, because its body (credentials, tokens) has already crossed the network in clear.
 * Every https response carries Strict-Transport-Security so browsers never try http again.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface TransportSecurityOptions {
  /** Off only in local mode (`wrangler dev` speaks http). Default true. */
  requireHttps?: boolean;
  /** Default 31536000 (one year). */
  hstsMaxAgeSeconds?: number;
  /** Adds `preload`; only once every subdomain is https-ready. Default false. */
  hstsPreload?: boolean;
}

/**
 * @example app.use(transportSecurity({ requireHttps: config.APP_ENV !== "local", hstsPreload: false }))
 */
export function transportSecurity(options: TransportSecurityOptions = {}): MiddlewareHandler<AppEnv> {
  const requireHttps = options.requireHttps ?? true;
  const maxAgeSeconds = options.hstsMaxAgeSeconds ?? 31_536_000;
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0) throw new Error("hstsMaxAgeSeconds must be a non-negative integer");
  const hsts = `max-age=${maxAgeSeconds}; includeSubDomains${options.hstsPreload ? "; preload" : ""}`;

  return async function transportSecurity(c, next) {
    const isHttps = c.req.url.startsWith("https:");
    if (!isHttps && requireHttps) {
      if (c.req.method === "GET" || c.req.method === "HEAD") {
        const url = new URL(c.req.url);
        url.protocol = "https:";
        return c.redirect(url.toString(), 308);
      }
      throw new AppError({ status: 403, code: "https-required", title: "HTTPS required", detail: "This API is served over HTTPS only." });
    }
    await next();
    if (isHttps) c.res.headers.set("Strict-Transport-Security", hsts);
  };
}
