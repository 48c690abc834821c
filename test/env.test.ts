import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/env.ts";
import { readProblem, requestWith } from "./support/app.ts";

const TLS_URL = "postgres://metrics_reader:s3cret-value@db.example.net/streamforge?sslmode=require";
const LOCAL_BASE = {
  ...env,
  APP_ENV: "local",
  DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db",
  LOCAL_SQL_ENDPOINT: "http://127.0.0.1:8788/sql",
  LOCAL_SQL_SECRET: "local-sql-secret-0123456789abcdef0123456789",
  ALLOWED_HOSTS: "localhost",
  ALLOWED_ORIGINS: "https://app.example.com",
};
const PRODUCTION_BASE = {
  ...LOCAL_BASE,
  APP_ENV: "production",
  DATABASE_URL: TLS_URL,
  AUTH_DATABASE_URL: TLS_URL,
  LOCAL_SQL_ENDPOINT: undefined,
  LOCAL_SQL_SECRET: undefined,
};

function capturedErrorLog() {
  const spy = vi.spyOn(console, "error").mockImplementation(() => {});
  return () => spy.mock.calls.map((call) => call.join(" ")).join("\n");
}

describe("environment parsing", () => {
  afterEach(() => vi.restoreAllMocks());

  it("fails closed with a fixed 500 problem when DATABASE_URL is missing, naming the key only in the log", async () => {
    const log = capturedErrorLog();
    const response = await requestWith({ DATABASE_URL: undefined }, "/health");
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const problem = await readProblem(response);
    expect(problem).toMatchObject({ status: 500, code: "misconfigured", title: "Service misconfigured" });
    expect(JSON.stringify(problem)).not.toContain("DATABASE_URL");
    expect(log()).toContain('"key":"DATABASE_URL"');
  });

  it("never echoes a malformed secret's value, in the response or the log", async () => {
    const log = capturedErrorLog();
    const malformed = "mysql://root:hunter2-very-secret@10.0.0.1/db";
    const response = await requestWith({ DATABASE_URL: malformed }, "/health");
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).not.toContain("hunter2-very-secret");
    expect(body).not.toContain("mysql");
    expect(log()).toContain('"key":"DATABASE_URL"');
    expect(log()).not.toContain("hunter2-very-secret");
  });

  it("rejects an unknown APP_ENV", async () => {
    const log = capturedErrorLog();
    const response = await requestWith({ APP_ENV: "staging" }, "/health");
    expect(response.status).toBe(500);
    expect(log()).toContain('"key":"APP_ENV"');
  });

  it("requires the loopback SQL endpoint and its secret in local mode and refuses a non-loopback endpoint or a short secret", () => {
    expect(loadConfig({ ...LOCAL_BASE, LOCAL_SQL_ENDPOINT: undefined })).toMatchObject({
      ok: false,
      problems: [{ key: "LOCAL_SQL_ENDPOINT" }],
    });
    expect(loadConfig({ ...LOCAL_BASE, LOCAL_SQL_SECRET: undefined })).toMatchObject({
      ok: false,
      problems: [{ key: "LOCAL_SQL_SECRET" }],
    });
    for (const remote of [
      "http://198.51.100.7:8080/sql",
      "https://127.0.0.1:8080/sql",
      "http://127.0.0.1.example.net:80/sql",
      "http://127.0.0.1:8080/other",
    ]) {
      expect(loadConfig({ ...LOCAL_BASE, LOCAL_SQL_ENDPOINT: remote })).toMatchObject({
        ok: false,
        problems: [{ key: "LOCAL_SQL_ENDPOINT" }],
      });
    }
    expect(loadConfig({ ...LOCAL_BASE, LOCAL_SQL_SECRET: "short" })).toMatchObject({
      ok: false,
      problems: [{ key: "LOCAL_SQL_SECRET" }],
    });
    expect(loadConfig(LOCAL_BASE).ok).toBe(true);
  });
});

describe("token lifetime", () => {
  it("defaults the session lifetimes to an hour idle and 12 hours in all, and refuses an absolute lifetime shorter than the idle one", () => {
    const defaults = loadConfig({
      ...LOCAL_BASE,
      SESSION_TTL_SECONDS: undefined,
      SESSION_MAX_LIFETIME_SECONDS: undefined,
    });
    expect(defaults).toMatchObject({
      ok: true,
      config: { SESSION_TTL_SECONDS: 3600, SESSION_MAX_LIFETIME_SECONDS: 43_200 },
    });
    expect(loadConfig({ ...LOCAL_BASE, SESSION_TTL_SECONDS: "900", SESSION_MAX_LIFETIME_SECONDS: "900" }).ok).toBe(
      true,
    );
    expect(
      loadConfig({ ...LOCAL_BASE, SESSION_TTL_SECONDS: "1800", SESSION_MAX_LIFETIME_SECONDS: "900" }),
    ).toMatchObject({ ok: false, problems: [{ key: "SESSION_MAX_LIFETIME_SECONDS" }] });
    for (const [key, value] of [
      ["SESSION_TTL_SECONDS", "299"],
      ["SESSION_TTL_SECONDS", "86401"],
      ["SESSION_MAX_LIFETIME_SECONDS", "604801"],
      ["SESSION_TTL_SECONDS", "ten"],
      ["SESSION_TTL_SECONDS", "600.5"],
    ] as const) {
      expect(
        loadConfig({ ...LOCAL_BASE, SESSION_MAX_LIFETIME_SECONDS: "604800", [key]: value }),
        `${key}=${value}`,
      ).toMatchObject({ ok: false, problems: [{ key }] });
    }
  });

  it("accepts a TTL of one hour and refuses anything longer, as tokens cannot be revoked one by one", () => {
    expect(loadConfig({ ...LOCAL_BASE, TOKEN_TTL_SECONDS: "3600" }).ok).toBe(true);
    for (const ttl of ["3601", "86400"]) {
      expect(loadConfig({ ...LOCAL_BASE, TOKEN_TTL_SECONDS: ttl })).toMatchObject({
        ok: false,
        problems: [{ key: "TOKEN_TTL_SECONDS" }],
      });
    }
  });

  it("fetches the secret-scanning partner's keys over https only, and accepts none at all", () => {
    expect(loadConfig({ ...LOCAL_BASE, SECRET_SCANNING_KEYS_URL: "https://keys.partner.test/list" }).ok).toBe(true);
    expect(loadConfig({ ...LOCAL_BASE, SECRET_SCANNING_KEYS_URL: "" }).ok).toBe(true);
    for (const url of ["http://keys.partner.test/list", "keys.partner.test/list", "javascript:alert(1)"]) {
      expect(loadConfig({ ...LOCAL_BASE, SECRET_SCANNING_KEYS_URL: url })).toMatchObject({
        ok: false,
        problems: [{ key: "SECRET_SCANNING_KEYS_URL" }],
      });
    }
  });
});

describe("production TLS rule", () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(["require", "verify-full"])("accepts a DATABASE_URL with sslmode=%s in production", (sslmode) => {
    const result = loadConfig({ ...PRODUCTION_BASE, DATABASE_URL: TLS_URL.replace("require", sslmode) });
    expect(result.ok).toBe(true);
  });

  it.each([
    ["no sslmode", "postgres://u:p@db.example.net/streamforge"],
    ["sslmode=disable", "postgres://u:p@db.example.net/streamforge?sslmode=disable"],
    ["sslmode=prefer", "postgres://u:p@db.example.net/streamforge?sslmode=prefer"],
    ["sslmode=allow", "postgres://u:p@db.example.net/streamforge?sslmode=allow"],
  ])("refuses a DATABASE_URL with %s in production", async (_label, url) => {
    const log = capturedErrorLog();
    const response = await requestWith(
      { APP_ENV: "production", LOCAL_SQL_ENDPOINT: undefined, LOCAL_SQL_SECRET: undefined, DATABASE_URL: url },
      "/health",
    );
    expect(response.status).toBe(500);
    expect(await readProblem(response)).toMatchObject({ code: "misconfigured" });
    expect(log()).toContain("production requires sslmode=require or sslmode=verify-full");
  });

  it("refuses the local SQL endpoint settings outside local mode, so production can never be pointed at it", () => {
    expect(loadConfig({ ...PRODUCTION_BASE, LOCAL_SQL_ENDPOINT: LOCAL_BASE.LOCAL_SQL_ENDPOINT })).toMatchObject({
      ok: false,
      problems: [{ key: "LOCAL_SQL_ENDPOINT" }],
    });
    expect(loadConfig({ ...PRODUCTION_BASE, LOCAL_SQL_SECRET: LOCAL_BASE.LOCAL_SQL_SECRET })).toMatchObject({
      ok: false,
      problems: [{ key: "LOCAL_SQL_SECRET" }],
    });
  });
});

describe("allowlist parsing", () => {
  it("reads comma-separated and JSON-array lists into typed entries", () => {
    const fromCsv = loadConfig({ ...LOCAL_BASE, ALLOWED_HOSTS: "api.example.com, *.edge.example.com:8443" });
    expect(fromCsv).toMatchObject({
      ok: true,
      config: {
        ALLOWED_HOSTS: [
          { hostname: "api.example.com", wildcard: false },
          { hostname: "edge.example.com", wildcard: true, port: 8443 },
        ],
      },
    });
    const fromJson = loadConfig({
      ...LOCAL_BASE,
      ALLOWED_ORIGINS: '["https://a.example.com","http://localhost:5173"]',
    });
    expect(fromJson).toMatchObject({
      ok: true,
      config: { ALLOWED_ORIGINS: ["https://a.example.com", "http://localhost:5173"] },
    });
  });

  it.each([
    ["ALLOWED_HOSTS", ""],
    ["ALLOWED_HOSTS", "*"],
    ["ALLOWED_HOSTS", "*.com"],
    ["ALLOWED_HOSTS", "api.example.com,,other.example.com"],
    ["ALLOWED_HOSTS", "api.example.com/path"],
    ["ALLOWED_HOSTS", "api.*.example.com"],
    ["ALLOWED_HOSTS", "[not json"],
    ["ALLOWED_ORIGINS", "*"],
    ["ALLOWED_ORIGINS", "null"],
    ["ALLOWED_ORIGINS", "https://app.example.com/"],
    ["ALLOWED_ORIGINS", "https://*.example.com"],
    ["ALLOWED_ORIGINS", "HTTPS://APP.EXAMPLE.COM"],
    ["ALLOWED_ORIGINS", "https://app.example.com:443"],
    ["ALLOWED_ORIGINS", "ftp://files.example.com"],
  ])("treats %s=%j as a configuration error, never as allow-all", (key, value) => {
    const result = loadConfig({ ...LOCAL_BASE, [key]: value });
    expect(result).toMatchObject({ ok: false, problems: [{ key }] });
  });
});
