/**
 * Attribution of the blocked client's cost: the main worker's 429 for a refused client — the same
 * 20 headers and 245-byte problem body, captured from a real refusal — from a bare Hono route,
 * built the two ways the flood gate could build it: from name/value pairs (`/refusal-pairs`), or
 * by copying one prebuilt Headers object (`/refusal-headers`, what src/middleware/flood-gate.ts
 * does). With `bare` and `full-blocked`, it splits a refusal's cost into the response itself,
 * how its headers are made, and what the project's worker adds.
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

// Built on first use: the runtime allows no Headers at global scope.
let prebuilt: Headers | undefined;

const app = new Hono();
app.get("/refusal-pairs", () => {
  const requestId = crypto.randomUUID();
  return new Response(problemBody(requestId), {
    status: 429,
    headers: [...HEADERS, ["x-request-id", requestId], ["X-RateLimit-Reset", resetSeconds()]],
  });
});
app.get("/refusal-headers", () => {
  const requestId = crypto.randomUUID();
  prebuilt ??= new Headers(HEADERS);
  const response = new Response(problemBody(requestId), { status: 429, headers: prebuilt });
  response.headers.set("x-request-id", requestId);
  response.headers.set("X-RateLimit-Reset", resetSeconds());
  return response;
});

export default app;
