import { sign } from "hono/jwt";
import { afterEach, describe, expect, it, vi } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { fetchWorker, readProblem, requestWith } from "../support/app.ts";
import { apiKeysSecret, TEST_API_KEYS, TEST_JWT_SIGNING_KEY } from "../support/constants.ts";

const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};

let ipCounter = 0;
function me(headers: Record<string, string>): Promise<Response> {
  ipCounter++;
  return fetchWorker("/auth/me", {
    headers: { "CF-Connecting-IP": `10.88.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`, ...headers },
  });
}

const base64Url = (value: unknown) =>
  btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
const nowSeconds = () => Math.floor(Date.now() / 1000);
const goodClaims = () => ({
  sub: "acme_analyst",
  tenant: "acme",
  iss: TOKENS.issuer,
  aud: TOKENS.audience,
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
});

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("authentication middleware", () => {
  afterEach(() => vi.restoreAllMocks());

  it("accepts a token issued at login and exposes its tenant", async () => {
    const response = await me({
      Authorization: `Bearer ${await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS)}`,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ kind: "user", subject: "acme_analyst", tenant: "acme" });
  });

  it("answers a request without credentials with 401 and WWW-Authenticate", async () => {
    const response = await me({});
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="streamforge"');
    expect(await readProblem(response)).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it.each([
    [
      "an expired token",
      async () =>
        sign({ ...goodClaims(), iat: nowSeconds() - 3600, exp: nowSeconds() - 60 }, TEST_JWT_SIGNING_KEY, "HS256"),
    ],
    [
      "a token whose tenant was changed after signing",
      async () => {
        const [header, , signature] = (await sign(goodClaims(), TEST_JWT_SIGNING_KEY, "HS256")).split(".");
        return `${header}.${base64Url({ ...goodClaims(), tenant: "globex" })}.${signature}`;
      },
    ],
    ["an alg: none token", async () => `${base64Url({ alg: "none", typ: "JWT" })}.${base64Url(goodClaims())}.`],
    ["a token signed with another algorithm", async () => sign(goodClaims(), TEST_JWT_SIGNING_KEY, "HS512")],
    [
      "a token signed with another key",
      async () => sign(goodClaims(), "another-signing-key-that-is-32-bytes-long!", "HS256"),
    ],
    [
      "a token for another audience",
      async () => sign({ ...goodClaims(), aud: "some-other-api" }, TEST_JWT_SIGNING_KEY, "HS256"),
    ],
    [
      "a token from another issuer",
      async () => sign({ ...goodClaims(), iss: "https://evil.example.net" }, TEST_JWT_SIGNING_KEY, "HS256"),
    ],
    [
      "a token without a tenant",
      async () => sign({ ...goodClaims(), tenant: undefined }, TEST_JWT_SIGNING_KEY, "HS256"),
    ],
    [
      "a token that is not yet valid",
      async () => sign({ ...goodClaims(), nbf: nowSeconds() + 3600 }, TEST_JWT_SIGNING_KEY, "HS256"),
    ],
    ["garbage", async () => "not.a.token"],
  ])("refuses %s with 401 invalid_token", async (_label, makeToken) => {
    const response = await me({ Authorization: `Bearer ${await makeToken()}` });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="streamforge", error="invalid_token"');
  });

  it("refuses a non-Bearer Authorization scheme with 401", async () => {
    const response = await me({ Authorization: `Basic ${btoa("acme_analyst:streamforge-demo")}` });
    expect(response.status).toBe(401);
  });

  it("accepts a valid API key and takes the tenant from its entry", async () => {
    const response = await me({ "X-API-Key": TEST_API_KEYS.acmeCurrent.key });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ kind: "api-key", subject: "acme-ci-2026", tenant: "acme" });
  });

  it.each([
    ["a wrong secret for a known key id", `${TEST_API_KEYS.acmeCurrent.key.slice(0, -4)}AAAA`],
    ["an unknown key id", TEST_API_KEYS.acmeCurrent.key.replace("acme-ci-2026", "acme-ci-2099")],
    ["a malformed key", "letmein"],
    ["an SQL injection", "' OR 1=1 --"],
  ])("refuses %s with 403", async (_label, key) => {
    const response = await me({ "X-API-Key": key });
    expect(response.status).toBe(403);
    expect(await readProblem(response)).toMatchObject({ status: 403, code: "forbidden" });
  });

  it("refuses a request that carries both a token and an API key", async () => {
    const token = await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS);
    const response = await me({ Authorization: `Bearer ${token}`, "X-API-Key": TEST_API_KEYS.acmeCurrent.key });
    expect(response.status).toBe(400);
  });

  it("accepts the old and the new key during a rotation, and only the new one after", async () => {
    expect((await me({ "X-API-Key": TEST_API_KEYS.acmeCurrent.key })).status).toBe(200);
    expect((await me({ "X-API-Key": TEST_API_KEYS.acmeNext.key })).status).toBe(200);

    const nextDigest = await sha256Hex(TEST_API_KEYS.acmeNext.key);
    const rotatedKeys = apiKeysSecret([TEST_API_KEYS.acmeNext], () => nextDigest);
    const headers = (key: string) => ({ headers: { "X-API-Key": key, "CF-Connecting-IP": "10.89.0.1" } });
    expect(
      (await requestWith({ API_KEYS: rotatedKeys }, "/auth/me", headers(TEST_API_KEYS.acmeCurrent.key))).status,
    ).toBe(403);
    expect((await requestWith({ API_KEYS: rotatedKeys }, "/auth/me", headers(TEST_API_KEYS.acmeNext.key))).status).toBe(
      200,
    );
  });

  it("limits an API key by its own policy, whatever address it calls from", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await me({ "X-API-Key": TEST_API_KEYS.globexLimited.key })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("never writes an API key or token into the logs", async () => {
    const lines: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const token = await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS);
    await me({ Authorization: `Bearer ${token}` });
    await me({ Authorization: `Bearer ${token}x` });
    await me({ "X-API-Key": TEST_API_KEYS.acmeCurrent.key });
    await me({ "X-API-Key": `${TEST_API_KEYS.acmeCurrent.key}x` });
    const joined = lines.join("\n");
    expect(joined).not.toContain(token);
    expect(joined).not.toContain(TEST_API_KEYS.acmeCurrent.key);
  });
});

describe("authentication secrets", () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    ["JWT_SIGNING_KEY", undefined],
    ["JWT_SIGNING_KEY", "too-short-key"],
    ["PASSWORD_PEPPER", undefined],
    ["PASSWORD_PEPPER", "short-pepper"],
    ["API_KEYS", "not json"],
    ["API_KEYS", '[{"id":"x","digest":"abc"}]'],
  ])("fails closed with a fixed 500 when %s is %j, echoing nothing", async (key, value) => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await requestWith({ [key]: value }, "/auth/me", {
      headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key },
    });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({
      code: "misconfigured",
      detail: "The service is not configured correctly.",
    });
    expect(text).not.toContain(key);
    if (value !== undefined) {
      expect(text).not.toContain(value);
      expect(log.mock.calls.join("\n")).not.toContain(value);
    }
    expect(log.mock.calls.join("\n")).toContain(`"key":"${key}`);
  });
});
