import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { worker } from "../../src/worker.ts";
import { readProblem, requestWith } from "../support/app.ts";

const PRODUCTION = {
  APP_ENV: "production",
  LOCAL_SQL_ENDPOINT: undefined,
  LOCAL_SQL_SECRET: undefined,
  DATABASE_URL: "postgres://reader:pw@db.example.net/streamforge?sslmode=verify-full",
  AUTH_DATABASE_URL: "postgres://auth:pw@db.example.net/streamforge?sslmode=verify-full",
  ALLOWED_HOSTS: "api.example.com",
};

describe("transport security middleware", () => {
  it("redirects a plain-http GET to the same URL on https with 308", async () => {
    const response = await requestWith(PRODUCTION, "http://api.example.com/health?verbose=1", { redirect: "manual" });
    expect(response.status).toBe(308);
    expect(response.headers.get("location")).toBe("https://api.example.com/health?verbose=1");
  });

  it("redirects a plain-http HEAD with 308", async () => {
    const response = await requestWith(PRODUCTION, "http://api.example.com/health", {
      method: "HEAD",
      redirect: "manual",
    });
    expect(response.status).toBe(308);
  });

  it("refuses a plain-http POST with 403 instead of redirecting its body", async () => {
    const response = await requestWith(PRODUCTION, "http://api.example.com/health", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: "sent-in-clear" }),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("location")).toBeNull();
    expect(await readProblem(response)).toMatchObject({ code: "https-required" });
  });

  it.each([
    ["GET", "a bearer token", { Authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig" }],
    ["HEAD", "an API key", { "X-API-Key": "sfk_acme-ci-2026_secret" }],
    ["POST", "an API key", { "x-api-key": "sfk_acme-ci-2026_secret", "Content-Type": "application/json" }],
    ["GET", "the admin key", { "X-Admin-Key": "the-admin-secret-sent-in-clear-0123456789" }],
    ["GET", "the session cookie", { Cookie: "theme=dark; __Host-sf-session=eyJhbGciOiJIUzI1NiJ9.e30.sig" }],
  ])(
    "refuses a plain-http %s carrying %s with a 403 that says to rotate it, never a redirect",
    async (method, _credential, headers) => {
      for (const path of ["/metrics/overview", "/admin/keys", "/auth/session"]) {
        const response = await requestWith(PRODUCTION, `http://api.example.com${path}`, {
          method,
          headers,
          redirect: "manual",
        });
        expect(response.status).toBe(403);
        expect(response.headers.get("location")).toBeNull();
        expect(response.headers.get("content-type")).toBe("application/problem+json");
        if (method !== "HEAD") {
          const problem = await readProblem(response);
          expect(problem).toMatchObject({ status: 403, code: "credential-exposed" });
          expect(problem.detail).toMatch(/rotate/);
        }
      }
    },
  );

  it("still redirects a plain-http GET whose only cookie is not a credential", async () => {
    const response = await requestWith(PRODUCTION, "http://api.example.com/health", {
      headers: { Cookie: "theme=dark" },
      redirect: "manual",
    });
    expect(response.status).toBe(308);
  });

  it("reports a credential sent in clear by a client the flood gate already refuses, instead of answering 429", async () => {
    const isolateEnv = { ...env, ...PRODUCTION, RATE_LIMIT_LOGIN_IP: "1/minute" } as Env;
    const send = async (url: string, headers: Record<string, string> = {}) => {
      const ctx = createExecutionContext();
      const request = new Request(url, {
        method: "POST",
        headers: { "CF-Connecting-IP": "198.51.100.201", "Content-Type": "application/json", ...headers },
        body: "{}",
        redirect: "manual",
      });
      const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, isolateEnv, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    };
    await send("https://api.example.com/auth/login");
    // Refused by the chain, then from memory: the gate has learned the refusal and the path.
    for (let i = 0; i < 2; i++) expect((await send("https://api.example.com/auth/login")).status).toBe(429);
    const exposed = await send("http://api.example.com/auth/login", {
      Authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
    });
    expect(exposed.status).toBe(403);
    expect(await readProblem(exposed)).toMatchObject({ code: "credential-exposed" });
  });

  it("accepts the same credential over https", async () => {
    const response = await requestWith(PRODUCTION, "https://api.example.com/health", {
      headers: { Authorization: "Bearer anything" },
    });
    expect(response.status).toBe(200);
  });

  it("sends HSTS for one year with subdomains on https responses, errors included", async () => {
    for (const path of ["/health", "/no-such-route"]) {
      const response = await requestWith(PRODUCTION, `https://api.example.com${path}`);
      expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
    }
  });

  it("adds preload only when configured", async () => {
    const response = await requestWith({ ...PRODUCTION, HSTS_PRELOAD: "true" }, "https://api.example.com/health");
    expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains; preload");
  });

  it("serves plain http in local mode, without HSTS", async () => {
    const response = await requestWith({}, "/health");
    expect(response.status).toBe(200);
    expect(response.headers.get("strict-transport-security")).toBeNull();
  });
});
