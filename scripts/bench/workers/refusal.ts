/**
 * Attribution of the blocked client's cost: the main worker's 429 for a refused client — the same
 * 20 headers and 245-byte problem body, captured from a real refusal — from a bare Hono route,
 * built the two ways the flood gate could build it: from name/value pairs (`/refusal-pairs`), or
 * by copying one prebuilt Headers object (`/refusal-headers`, what src/middleware/flood-gate.ts
 * does). With `bare` and `full-blocked`, it splits a refusal's cost into the response itself,
 * how its headers are made, and what the project's worker adds. Two more routes copy other header
 * sets the same way: the same bytes in two headers (`/refusal-two-long-headers`: whether a header
 * costs by its count or by its bytes), and the set without the legacy triple and the four headers
 * that act only on documents (`/refusal-fewer-headers`: what a refusal would cost without them).
 */
import { Hono } from "hono";

const HEADERS: [string, string][] = [
  ["Content-Type", "application/problem+json"],
  ["Access-Control-Allow-Origin", "https://app.bench.test"],
  ["Cache-Control", "no-store"],
  ["Retry-After", "59"],
  ["Vary", "Origin"],
  ["Access-Control-Allow-Credentials", "true"],
  ["RateLimit", '"api";r=0;t=59'],
  ["RateLimit-Policy", '"api";q=100;w=60'],
  ["X-RateLimit-Limit", "100"],
  ["X-RateLimit-Remaining", "0"],
  ["content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"],
  ["cross-origin-opener-policy", "same-origin"],
  ["cross-origin-resource-policy", "same-origin"],
  [
    "permissions-policy",
    "accelerometer=(), camera=(), display-capture=(), fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
  ],
  ["referrer-policy", "no-referrer"],
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["x-xss-protection", "0"],
];

const problemBody = (requestId: string) =>
  `{"type":"https://streamforge.dev/problems/rate-limited","title":"Too many requests","status":429,"code":"rate-limited","detail":"Rate limit exceeded. Retry in 59 s.","instance":"/auth/me","request_id":"${requestId}"}`;

const resetSeconds = () => String(Math.ceil(Date.now() / 1000) + 59);

/** Headers a browser applies only to a document, and the triple `RATE_LIMIT_LEGACY_HEADERS` switches. */
const DOCUMENT_AND_LEGACY = new Set([
  "cross-origin-opener-policy",
  "permissions-policy",
  "referrer-policy",
  "x-xss-protection",
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
]);

/** The same bytes as HEADERS, in two headers. */
const TWO_LONG_HEADERS: [string, string][] = [
  ["Content-Type", "application/problem+json"],
  [
    "x-all",
    HEADERS.slice(1)
      .map(([name, value]) => `${name}: ${value}`)
      .join("; "),
  ],
];

const app = new Hono();
app.get("/refusal-pairs", () => {
  const requestId = crypto.randomUUID();
  return new Response(problemBody(requestId), {
    status: 429,
    headers: [...HEADERS, ["x-request-id", requestId], ["X-RateLimit-Reset", resetSeconds()]],
  });
});
/** A route answering with `headers` copied from one Headers object, built on first use (the runtime allows none at global scope). */
function prebuiltRefusal(path: string, headers: [string, string][], withReset: boolean): void {
  let prebuilt: Headers | undefined;
  app.get(path, () => {
    const requestId = crypto.randomUUID();
    prebuilt ??= new Headers(headers);
    const response = new Response(problemBody(requestId), { status: 429, headers: prebuilt });
    response.headers.set("x-request-id", requestId);
    if (withReset) response.headers.set("X-RateLimit-Reset", resetSeconds());
    return response;
  });
}
prebuiltRefusal("/refusal-headers", HEADERS, true);
prebuiltRefusal("/refusal-two-long-headers", TWO_LONG_HEADERS, true);
prebuiltRefusal(
  "/refusal-fewer-headers",
  HEADERS.filter(([name]) => !DOCUMENT_AND_LEGACY.has(name)),
  false,
);

export default app;
