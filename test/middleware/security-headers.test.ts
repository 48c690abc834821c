import { describe, expect, it } from "vitest";
import { requestWith } from "../support/app.ts";
import { TEST_API_KEYS } from "../support/constants.ts";
import { expectSecurityHeaders } from "../support/security-headers.ts";

const PRODUCTION = {
  APP_ENV: "production",
  LOCAL_SQL_ENDPOINT: undefined,
  LOCAL_SQL_SECRET: undefined,
  // Unreachable on purpose: production mode has no local endpoint, so readiness answers 503.
  DATABASE_URL: "postgres://reader:pw@127.0.0.1:1/streamforge?sslmode=verify-full",
  AUTH_DATABASE_URL: "postgres://auth:pw@127.0.0.1:1/streamforge?sslmode=verify-full",
  ALLOWED_HOSTS: "api.example.com",
  ALLOWED_ORIGINS: "https://app.example.com",
};
const API = "https://api.example.com";
const HSTS = "max-age=31536000; includeSubDomains";

// HSTS is asserted where this deployment vouches for the host: not for a refused foreign Host, and
// not when configuration (which says whether https is required) could not be read.
const WITHOUT_HSTS = new Set(["400 untrusted host", "500 misconfigured"]);

const RESPONSE_KINDS: [string, Record<string, unknown>, string, RequestInit, number][] = [
  ["2xx", PRODUCTION, `${API}/health`, {}, 200],
  ["400 untrusted host", PRODUCTION, "https://evil.example.net/health", {}, 400],
  [
    "403 refused preflight",
    PRODUCTION,
    `${API}/health`,
    { method: "OPTIONS", headers: { Origin: "https://evil.example.net", "Access-Control-Request-Method": "POST" } },
    403,
  ],
  [
    "204 allowed preflight",
    PRODUCTION,
    `${API}/health`,
    { method: "OPTIONS", headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" } },
    204,
  ],
  ["401 no credentials", PRODUCTION, `${API}/auth/me`, { headers: { "CF-Connecting-IP": "10.90.0.1" } }, 401],
  ["404", PRODUCTION, `${API}/nothing-here`, {}, 404],
  ["405", PRODUCTION, `${API}/health`, { method: "DELETE" }, 405],
  [
    "413 body too large",
    PRODUCTION,
    `${API}/auth/login`,
    {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": "10.90.0.2" },
      body: JSON.stringify({ username: "x".repeat(5000) }),
    },
    413,
  ],
  [
    "415 not JSON",
    PRODUCTION,
    `${API}/auth/login`,
    { method: "POST", headers: { "Content-Type": "text/plain", "CF-Connecting-IP": "10.90.0.3" }, body: "hello" },
    415,
  ],
  ["500 misconfigured", { ...PRODUCTION, DATABASE_URL: undefined }, `${API}/health`, {}, 500],
  ["503 database down", PRODUCTION, `${API}/health/ready`, {}, 503],
];

describe("security headers middleware", () => {
  it.each(RESPONSE_KINDS)("puts the full header set on %s", async (kind, env, url, init, status) => {
    const response = await requestWith(env, url, init);
    expect(response.status).toBe(status);
    expectSecurityHeaders(response);
    expect(response.headers.get("strict-transport-security")).toBe(WITHOUT_HSTS.has(kind) ? null : HSTS);
  });

  it("puts the full header set on 429", async () => {
    const limited = { ...PRODUCTION, RATE_LIMIT_API: "1/minute" };
    // A valid credential: requests without one get their 401 before any limit.
    const init = { headers: { "CF-Connecting-IP": "10.90.0.4", "X-API-Key": TEST_API_KEYS.acmeCurrent.key } };
    await requestWith(limited, `${API}/auth/me`, init);
    const response = await requestWith(limited, `${API}/auth/me`, init);
    expect(response.status).toBe(429);
    expectSecurityHeaders(response);
    expect(response.headers.get("strict-transport-security")).toBe(HSTS);
  });

  it("gives the docs page a CSP that allows scripts and styles from its own origin only, none inline", async () => {
    const response = await requestWith(PRODUCTION, `${API}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(response.headers.get("x-frame-options")).toBe("DENY");
  });

  it("serves the docs page's own files and the OpenAPI document with the API's headers", async () => {
    const init = await requestWith(PRODUCTION, `${API}/docs/init.js`);
    expect(init.status).toBe(200);
    expectSecurityHeaders(init);
    for (const path of ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/openapi.json"]) {
      const response = await requestWith(PRODUCTION, `${API}${path}`);
      expect(response.status).toBe(200);
      // Static assets, public and the same for everyone: they keep the assets service's
      // revalidating cache header; every other header is the API's.
      expect(response.headers.get("cache-control")).toBe("public, max-age=0, must-revalidate");
      const headers = new Headers(response.headers);
      headers.set("cache-control", "no-store");
      expectSecurityHeaders(new Response(null, { headers }));
      expect(response.headers.get("strict-transport-security")).toBe(HSTS);
    }
  });

  it("answers 405 as a problem that lists the allowed methods", async () => {
    const response = await requestWith(PRODUCTION, `${API}/health`, { method: "DELETE" });
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({ status: 405, code: "method-not-allowed" });
  });
});
