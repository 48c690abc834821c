/**
 * Security headers on every response, errors and preflights included (OWASP Secure Headers
 * Project). API responses get a CSP that allows nothing at all; the docs page, which runs Swagger
 * UI from this origin, gets its own policy: scripts and styles from 'self' only, no inline code, no
 * third party. `X-XSS-Protection: 0` on purpose: the old `1; mode=block` auditor can be abused to
 * create XSS in browsers that have it. HSTS is set by transport-security.ts, which knows whether the
 * request came over https. The values are what Hono's `secureHeaders` sent with these settings,
 * as name/value pairs built once and set through one reference to the response's headers: its
 * middleware looks them up again for every header it sets, and each lookup crosses into the runtime.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import type { LayerParts } from "./layer.ts";

const DENIED_FEATURES = [
  "accelerometer",
  "camera",
  "display-capture",
  "fullscreen",
  "geolocation",
  "gyroscope",
  "magnetometer",
  "microphone",
  "payment",
  "usb",
];

/**
 * Hono's defaults for HTML pages in old browsers (IE download prompts, Flash/PDF policies, DNS
 * prefetch, origin-keyed agent clusters) are left out: they do nothing for JSON, and each header
 * costs CPU on every response.
 */
const COMMON: readonly [string, string][] = [
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Referrer-Policy", "no-referrer"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "DENY"],
  ["X-XSS-Protection", "0"],
  ["Permissions-Policy", DENIED_FEATURES.map((feature) => `${feature}=()`).join(", ")],
];

const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
// Swagger UI draws its icons as data: SVGs.
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export interface SecurityHeadersOptions {
  /** Path of the interactive docs page. Default `/docs`. */
  docsPath?: string;
}

/**
 * @example app.use(layer(securityHeaders({ docsPath: "/docs" })))
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): LayerParts {
  const docsPath = options.docsPath ?? "/docs";
  const api: readonly [string, string][] = [...COMMON, ["Content-Security-Policy", API_CSP]];
  const docs: readonly [string, string][] = [...COMMON, ["Content-Security-Policy", DOCS_CSP]];
  function securityHeaders(c: Context<AppEnv>): void {
    const headers = c.res.headers;
    for (const [name, value] of c.req.path === docsPath ? docs : api) headers.set(name, value);
    // API responses are per caller (tenants, tokens): no shared or browser cache may keep them.
    if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  }
  return { after: securityHeaders };
}
