/**
 * Security headers on every response, errors and preflights included (OWASP Secure Headers
 * Project), through Hono's `secureHeaders`. API responses get a CSP that allows nothing at all;
 * the docs page, which runs Swagger UI from this origin, gets its own policy: scripts and styles
 * from 'self' only, no inline code, no third party. `X-XSS-Protection: 0`
 * on purpose: the old `1; mode=block` auditor can be abused to create XSS in browsers that have it.
 * HSTS is set by transport-security.ts, which knows whether the request came over https.
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../env.ts";

const DENY_FEATURES = {
  accelerometer: false,
  camera: false,
  displayCapture: false,
  fullscreen: false,
  geolocation: false,
  gyroscope: false,
  magnetometer: false,
  microphone: false,
  payment: false,
  usb: false,
};

const COMMON = {
  strictTransportSecurity: false,
  // Hono's defaults for HTML pages in old browsers (IE download prompts, Flash/PDF policies, DNS
  // prefetch, origin-keyed agent clusters) do nothing for JSON; each header costs CPU on every response.
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  // Nothing here sets X-Powered-By, so there is nothing to remove.
  removePoweredBy: false,
  xFrameOptions: "DENY",
  xXssProtection: "0",
  referrerPolicy: "no-referrer",
  crossOriginOpenerPolicy: "same-origin",
  crossOriginResourcePolicy: "same-origin",
  permissionsPolicy: DENY_FEATURES,
} satisfies Parameters<typeof secureHeaders>[0];

export interface SecurityHeadersOptions {
  /** Path of the interactive docs page. Default `/docs`. */
  docsPath?: string;
}

/**
 * @example app.use(securityHeaders({ docsPath: "/docs" }))
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): MiddlewareHandler<AppEnv> {
  const docsPath = options.docsPath ?? "/docs";
  const api = secureHeaders({
    ...COMMON,
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
    },
  });
  const docs = secureHeaders({
    ...COMMON,
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      // Swagger UI draws its icons as data: SVGs.
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
    },
  });
  return async function securityHeaders(c, next) {
    await (c.req.path === docsPath ? docs : api)(c, next);
    // API responses are per caller (tenants, tokens): no shared or browser cache may keep them.
    if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
  };
}
