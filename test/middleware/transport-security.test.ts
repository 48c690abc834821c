import { describe, expect, it } from "vitest";
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
    const response = await requestWith(PRODUCTION, "http://api.example.com/health", { method: "HEAD", redirect: "manual" });
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
