/**
 * The dashboard's response headers, written as the `_headers` file of its Workers Static Assets
 * site: the API's security header set (src/middleware/security-headers.ts) with a CSP for a page
 * that runs only its own bundled script and style, talks only to the API's origin, and may not be
 * framed. uPlot sizes and colours its elements through the CSSOM (`element.style.x = …`), which
 * style-src does not govern, so no 'unsafe-inline' is needed anywhere.
 */

/** Throws unless `value` is a serialized http(s) origin such as `https://api.streamforge.example`. */
export function parseApiOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`DASHBOARD_API_ORIGIN is not a URL: ${JSON.stringify(value)}`);
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.origin !== value) {
    throw new Error(
      `DASHBOARD_API_ORIGIN must be a serialized http(s) origin (scheme://host[:port], no path or slash): ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function contentSecurityPolicy(apiOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src ${parseApiOrigin(apiOrigin)}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

/** The same values the API sends (Hono's secureHeaders with the options in security-headers.ts). */
const PERMISSIONS_POLICY =
  "accelerometer=(), camera=(), display-capture=(), fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

export function securityHeaders(apiOrigin: string): Record<string, string> {
  return {
    "Content-Security-Policy": contentSecurityPolicy(apiOrigin),
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "0",
  };
}

/**
 * The `_headers` file: the security set on every path; the page itself is never cached (a new
 * deploy, with a new API origin or CSP, applies at the next load), while the hashed assets are.
 */
export function headersFile(apiOrigin: string): string {
  const lines = (headers: Record<string, string>) =>
    Object.entries(headers).map(([name, value]) => `  ${name}: ${value}`);
  return [
    "/*",
    ...lines(securityHeaders(apiOrigin)),
    "  Cache-Control: no-store",
    "/assets/*",
    "  ! Cache-Control",
    "  Cache-Control: public, max-age=31536000, immutable",
    "",
  ].join("\n");
}
