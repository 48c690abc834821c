import { afterEach, describe, expect, it, vi } from "vitest";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { verifyToken } from "../../src/auth/tokens.ts";
import { fetchWorker, readProblem, requestWith } from "../support/app.ts";
import { TEST_JWT_SIGNING_KEY } from "../support/constants.ts";

let ipCounter = 0;
/** A fresh client address in a fresh /24 per call, so per-IP and per-network login limits never couple tests. */
function freshIp(): string {
  ipCounter++;
  return `10.${77 + Math.floor(ipCounter / 250)}.${ipCounter % 250}.1`;
}

function login(body: unknown, init: { ip?: string; contentType?: string; raw?: string } = {}): Promise<Response> {
  return fetchWorker("/auth/login", {
    method: "POST",
    headers: { "Content-Type": init.contentType ?? "application/json", "CF-Connecting-IP": init.ip ?? freshIp() },
    body: init.raw ?? JSON.stringify(body),
  });
}

/**
 * A sign-in on an app whose username lane is its own, spaced 3.6 ms (username-turns.ts keys lanes by
 * policy): a wrong password for a demo user here must not shut that user's lane for other files.
 */
function loginInOwnLane(body: unknown): Promise<Response> {
  return requestWith({ RATE_LIMIT_LOGIN_USERNAME: "1000000/hour" }, "/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
    body: JSON.stringify(body),
  });
}

function withoutRequestId(problem: Record<string, unknown>): Record<string, unknown> {
  const { request_id: _ignored, ...rest } = problem;
  return rest;
}

describe("POST /auth/login", () => {
  afterEach(() => vi.restoreAllMocks());

  it("returns a signed, short-lived bearer token for the right password, never cached", async () => {
    const response = await login({ username: "acme_analyst", password: DEMO_PASSWORD });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 900 });
    const claims = await verifyToken(body.access_token, {
      signingKey: TEST_JWT_SIGNING_KEY,
      issuer: "https://api.streamforge.example",
      audience: "streamforge-api",
      ttlSeconds: 900,
    });
    const payload = JSON.parse(atob(body.access_token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as Record<
      string,
      number
    >;
    expect(claims).toEqual({ sub: "acme_analyst", tenant: "acme", role: "analyst", issuedAtSeconds: payload.iat });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(JSON.parse(atob(body.access_token.split(".")[0]!))).toMatchObject({ alg: "HS256" });
  });

  it("answers an unknown user and a wrong password with the same status and body", async () => {
    const unknown = await login({ username: "no_such_user", password: "whatever-password" });
    const wrong = await loginInOwnLane({ username: "acme_analyst", password: "wrong-password-123" });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(withoutRequestId(await readProblem(unknown))).toEqual(withoutRequestId(await readProblem(wrong)));
    expect(unknown.headers.get("cache-control")).toBe("no-store");
  });

  it("treats hostile text in the password, the one free-text field that passes validation, as a wrong password", async () => {
    const wrong = withoutRequestId(
      await readProblem(await loginInOwnLane({ username: "initech_analyst", password: "wrong-password-123" })),
    );
    for (const password of [
      "' OR '1'='1' --",
      "'; DROP TABLE users; --",
      "$1) OR (1=1",
      "\u0000".repeat(8),
      "<script>alert(1)</script>",
    ]) {
      const response = await loginInOwnLane({ username: "initech_analyst", password });
      expect(response.status, password).toBe(401);
      expect(withoutRequestId(await readProblem(response))).toEqual(wrong);
    }
  });

  it("does the same PBKDF2 work for an unknown user as for a wrong password", async () => {
    const derive = vi.spyOn(crypto.subtle, "deriveBits");
    await login({ username: "no_such_user_2", password: "whatever-password" });
    const unknownCalls = derive.mock.calls.map((call) => (call[0] as { iterations: number }).iterations);
    derive.mockClear();
    await loginInOwnLane({ username: "globex_analyst", password: "wrong-password-123" });
    const wrongCalls = derive.mock.calls.map((call) => (call[0] as { iterations: number }).iterations);
    expect(unknownCalls).toEqual([100_000]);
    expect(wrongCalls).toEqual(unknownCalls);
  });

  it.each([
    ["a username that is too short", { username: "ab", password: "long-enough-1" }, "body.username"],
    ["a username that is too long", { username: "a".repeat(51), password: "long-enough-1" }, "body.username"],
    ["a username with a space", { username: "acme analyst", password: "long-enough-1" }, "body.username"],
    ["a username with a Cyrillic look-alike", { username: "acme_аnalyst", password: "long-enough-1" }, "body.username"],
    [
      "a username with a fullwidth look-alike",
      { username: "ａcme_analyst", password: "long-enough-1" },
      "body.username",
    ],
    ["an SQL injection in the username", { username: "' OR 1=1 --", password: "long-enough-1" }, "body.username"],
    ["a password that is too short", { username: "acme_analyst", password: "seven77" }, "body.password"],
    ["a password that is too long", { username: "acme_analyst", password: "p".repeat(129) }, "body.password"],
    ["a number for a username", { username: 12345, password: "long-enough-1" }, "body.username"],
    ["a missing password", { username: "acme_analyst" }, "body.password"],
    ["an unknown field", { username: "acme_analyst", password: "long-enough-1", role: "admin" }, "body.role"],
  ])("refuses %s with a 400 problem naming the field", async (_label, body, path) => {
    const response = await login(body);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const problem = await readProblem(response);
    expect(problem).toMatchObject({ status: 400, code: "validation-failed" });
    expect((problem.errors as { path: string }[]).map((error) => error.path)).toContain(path);
    expect(JSON.stringify(problem)).not.toContain("long-enough-1");
  });

  it("accepts the edges of the rules: 3 and 50 characters, 8 and 128", async () => {
    for (const body of [
      { username: "abc", password: "12345678" },
      { username: "a".repeat(50), password: "p".repeat(128) },
    ]) {
      expect((await login(body)).status).toBe(401);
    }
  });

  it("refuses a non-JSON body with 415 and malformed JSON with 400", async () => {
    const form = await login(undefined, {
      contentType: "application/x-www-form-urlencoded",
      raw: "username=acme_analyst&password=streamforge-demo",
    });
    expect(form.status).toBe(415);
    const malformed = await login(undefined, { raw: '{"username":"acme_analyst",' });
    expect(malformed.status).toBe(400);
    expect(await readProblem(malformed)).toMatchObject({ code: "malformed-json" });
  });

  it("refuses an oversized body with 413 before validating it", async () => {
    const response = await login({ username: "acme_analyst", password: "x".repeat(2000) });
    expect(response.status).toBe(413);
  });

  it("returns 429 on the 6th attempt in a minute from one IP, saying nothing about the account", async () => {
    const ip = "198.18.0.1";
    for (let i = 0; i < 5; i++)
      expect((await login({ username: `probe_user_${i}`, password: "guess-password" }, { ip })).status).toBe(401);
    const limited = await login({ username: "acme_analyst", password: DEMO_PASSWORD }, { ip });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    const text = await limited.text();
    expect(JSON.parse(text)).toMatchObject({ status: 429, code: "rate-limited" });
    expect(text).not.toContain("acme_analyst");
  });

  it("answers other methods with 405 without spending the IP's login attempts", async () => {
    const ip = "198.18.0.2";
    for (const method of ["PUT", "DELETE", "PATCH", "GET", "PUT", "DELETE", "PATCH"]) {
      const response = await fetchWorker("/auth/login", { method, headers: { "CF-Connecting-IP": ip } });
      expect(response.status, method).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
    }
    expect((await login({ username: "probe_user_x", password: "guess-password" }, { ip })).status).toBe(401);
  });

  it("answers a second guess at one username within 6 minutes, from any network, with 429 and when to retry", async () => {
    const username = "target_user";
    expect((await login({ username, password: "guess-password" })).status).toBe(401);
    const limited = await login({ username, password: "guess-password" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("ratelimit-policy")).toBe('"login-username";q=10;w=3600');
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(360);
  });

  it("never writes a password or token into the logs", async () => {
    const lines: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const success = await login({ username: "initech_analyst", password: DEMO_PASSWORD });
    const { access_token: token } = (await success.json()) as { access_token: string };
    await loginInOwnLane({ username: "initech_analyst", password: "secret-wrong-pass" });
    await login({ username: "initech_analyst", password: "x" });
    const joined = lines.join("\n");
    for (const secret of [DEMO_PASSWORD, "secret-wrong-pass", token]) expect(joined).not.toContain(secret);
  });
});
