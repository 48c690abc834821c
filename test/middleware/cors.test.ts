import { describe, expect, it } from "vitest";
import { fetchWorker, readProblem } from "../support/app.ts";

const ALLOWED = "https://app.streamforge.test";
const EXPOSED =
  "RateLimit, RateLimit-Policy, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Id";

function preflight(origin: string): Promise<Response> {
  return fetchWorker("/health", {
    method: "OPTIONS",
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type,x-csrf-token",
    },
  });
}

const ALLOW_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-max-age",
  "access-control-expose-headers",
];

describe("CORS middleware", () => {
  it("answers a listed origin's preflight with its exact origin, credentials, methods, headers and max-age", async () => {
    const response = await preflight(ALLOWED);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    expect(response.headers.get("access-control-allow-methods")).toBe("GET,POST");
    expect(response.headers.get("access-control-allow-headers")).toBe("Authorization,Content-Type,X-CSRF-Token");
    expect(response.headers.get("access-control-max-age")).toBe("3600");
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it("allows a listed origin's actual request with credentials, the exposed headers and Vary: Origin", async () => {
    const response = await fetchWorker("/health", { headers: { Origin: ALLOWED } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    expect(response.headers.get("access-control-expose-headers")).toBe(EXPOSED);
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it.each([
    ["a 401", "/auth/me", {}, 401],
    ["a 403", "/auth/me", { "X-API-Key": "sfk_nobody_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, 403],
    ["a 404", "/nowhere", {}, 404],
    ["a 405", "/auth/logout", {}, 405],
  ])(
    "exposes the rate-limit headers and the request id on %s to a listed origin",
    async (_label, path, headers, status) => {
      const response = await fetchWorker(path, {
        headers: { Origin: ALLOWED, "CF-Connecting-IP": "10.91.0.1", ...headers },
      });
      expect(response.status).toBe(status);
      expect(response.headers.get("access-control-expose-headers")).toBe(EXPOSED);
      expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    },
  );

  it.each([
    ["a foreign origin", "https://evil.example.net"],
    ["the null origin", "null"],
    ["http where https is listed", "http://app.streamforge.test"],
    ["a prefix look-alike", "https://evil-app.streamforge.test"],
    ["a suffix look-alike", "https://app.streamforge.test.evil.net"],
    ["another port", "https://app.streamforge.test:8443"],
    ["a trailing-slash variant", "https://app.streamforge.test/"],
    ["an upper-case variant", "https://APP.streamforge.test"],
  ])("gives %s no CORS header on a simple request", async (_label, origin) => {
    const response = await fetchWorker("/health", { headers: { Origin: origin } });
    expect(response.status).toBe(200);
    for (const header of ALLOW_HEADERS) expect(response.headers.get(header)).toBeNull();
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it.each([
    ["a foreign origin", "https://evil.example.net"],
    ["the null origin", "null"],
    ["http where https is listed", "http://app.streamforge.test"],
    ["a suffix look-alike", "https://app.streamforge.test.evil.net"],
    ["another port", "https://app.streamforge.test:8443"],
  ])("refuses a preflight from %s with a 403 problem and no allow headers", async (_label, origin) => {
    const response = await preflight(origin);
    expect(response.status).toBe(403);
    for (const header of ALLOW_HEADERS) expect(response.headers.get(header)).toBeNull();
    expect(response.headers.get("vary")).toContain("Origin");
    expect(await readProblem(response)).toMatchObject({ code: "origin-not-allowed" });
  });
});
