/**
 * HTTPS only (RFC 9110 §15.4.9 for the 308; RFC 6797 for HSTS). Plain-http GET/HEAD is redirected
 * to the same URL on https, which keeps the method; any other plain-http request is refused rather
 * than redirected, because its body (credentials, tokens) has already crossed the network in clear.
 * A plain-http request carrying a credential (a credential header, or the session cookie a
 * non-browser client may send anywhere) is refused whatever its method, with a problem telling the
 * caller to rotate it: a redirect would be followed silently, resending the credential in clear,
 * and the exposure go unseen.
 * Every https response carries Strict-Transport-Security so browsers never try http again.
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { LayerParts } from "./layer.ts";

export interface TransportSecurityOptions {
  /** Off only in local mode (`wrangler dev` speaks http). Default true. */
  requireHttps?: boolean;
  /** Default 31536000 (one year). */
  hstsMaxAgeSeconds?: number;
  /** Adds `preload`; only once every subdomain is https-ready. Default false. */
  hstsPreload?: boolean;
  /**
   * Headers whose presence on plain http means a credential was exposed. Default `Authorization`,
   * `X-API-Key`, `X-Admin-Key`.
   */
  credentialHeaders?: readonly string[];
  /** Cookies whose presence on plain http means a credential was exposed. Default `__Host-sf-session`. */
  credentialCookies?: readonly string[];
}

/**
 * @example app.use(layer(transportSecurity({ requireHttps: config.APP_ENV !== "local", hstsPreload: false })))
 */
export function transportSecurity(options: TransportSecurityOptions = {}): LayerParts {
  const requireHttps = options.requireHttps ?? true;
  const maxAgeSeconds = options.hstsMaxAgeSeconds ?? 31_536_000;
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0)
    throw new Error("hstsMaxAgeSeconds must be a non-negative integer");
  const hsts = `max-age=${maxAgeSeconds}; includeSubDomains${options.hstsPreload ? "; preload" : ""}`;

  const credentialHeaders = options.credentialHeaders ?? ["Authorization", "X-API-Key", "X-Admin-Key"];
  const credentialCookies = options.credentialCookies ?? ["__Host-sf-session"];

  function transportSecurity(c: Context<AppEnv>): Response | undefined {
    if (c.req.url.startsWith("https:") || !requireHttps) return undefined;
    const cookies = credentialCookies.length > 0 && c.req.header("cookie") !== undefined ? getCookie(c) : {};
    const exposed =
      credentialHeaders.some((name) => c.req.header(name) !== undefined) ||
      credentialCookies.some((name) => cookies[name] !== undefined);
    if (exposed) {
      throw new AppError({
        status: 403,
        code: "credential-exposed",
        title: "Credential sent over plain HTTP",
        detail:
          "This request sent a credential without TLS. Treat it as exposed: revoke or rotate it, then retry over HTTPS.",
      });
    }
    if (c.req.method === "GET" || c.req.method === "HEAD") {
      const url = new URL(c.req.url);
      url.protocol = "https:";
      return c.redirect(url.toString(), 308);
    }
    throw new AppError({
      status: 403,
      code: "https-required",
      title: "HTTPS required",
      detail: "This API is served over HTTPS only.",
    });
  }
  function strictTransportSecurity(c: Context<AppEnv>): void {
    if (c.req.url.startsWith("https:")) c.res.headers.set("Strict-Transport-Security", hsts);
  }
  return { before: transportSecurity, after: strictTransportSecurity };
}
