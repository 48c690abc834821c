import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { signApiKey } from "../../src/auth/api-keys.ts";
import { fromBase64Url, toBase64Url } from "../../src/auth/base64url.ts";
import { keyChecksum } from "../../src/auth/key-checksum.ts";
import type { Principal } from "../../src/auth/principal.ts";
import { issueToken } from "../../src/auth/tokens.ts";
import type { AppEnv } from "../../src/env.ts";
import { onError } from "../../src/errors.ts";
import { requireScope } from "../../src/middleware/require-scope.ts";
import { fetchWorker } from "../support/app.ts";
import { TEST_JWT_SIGNING_KEY, TEST_SIGNING_SECRETS } from "../support/constants.ts";

const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};
const nowSeconds = () => Math.floor(Date.now() / 1000);

let client = 0;
function get(path: string, headers: Record<string, string>): Promise<Response> {
  client++;
  return fetchWorker(path, {
    headers: { "CF-Connecting-IP": `10.63.${Math.floor(client / 250)}.${client % 250}`, ...headers },
  });
}

const keyWith = (id: string, scopes: ("metrics:read" | "streams:read")[]) =>
  signApiKey({ id, tenant: "acme", scopes }, nowSeconds(), TEST_SIGNING_SECRETS.current);

describe("per-route scopes of API keys", () => {
  it("let a streams:read key list streams but not read metrics", async () => {
    const key = await keyWith("scope-streams", ["streams:read"]);
    expect((await get("/streams", { "X-API-Key": key })).status).toBe(200);
    for (const path of [
      "/metrics/overview",
      "/metrics/timeseries?stream=checkout-api&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z",
    ]) {
      const refused = await get(path, { "X-API-Key": key });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({
        status: 403,
        code: "insufficient-scope",
        detail: "This API key lacks the scope this route needs (one of: metrics:read).",
      });
    }
  });

  it("let a metrics:read key read metrics and list streams", async () => {
    const key = await keyWith("scope-metrics", ["metrics:read"]);
    expect((await get("/metrics/overview", { "X-API-Key": key })).status).toBe(200);
    expect((await get("/streams", { "X-API-Key": key })).status).toBe(200);
  });

  it("refuse a streams:read key whose scopes were rewritten to metrics:read (the MAC fails)", async () => {
    const key = await keyWith("scope-forged", ["streams:read"]);
    const [, prefix, kid, claimsText, mac] = /^(sfk3)_([^_]+)_(.+)_(.{43})_.{6}$/.exec(key) as unknown as string[];
    const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(claimsText!))) as Record<string, unknown>;
    // The checksum is anyone's to compute: only the MAC stands between the rewrite and the route.
    const body = [
      prefix,
      kid,
      toBase64Url(new TextEncoder().encode(JSON.stringify({ ...claims, s: ["metrics:read"] }))),
      mac,
    ].join("_");
    const forged = `${body}_${keyChecksum(body)}`;
    const refused = await get("/metrics/overview", { "X-API-Key": forged });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "forbidden", detail: "The API key is not valid." });
  });

  it("leave users who logged in their account's read rights", async () => {
    const token = await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS);
    expect((await get("/metrics/overview", { Authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await get("/streams", { Authorization: `Bearer ${token}` })).status).toBe(200);
  });
});

describe("scopes of users, by role", () => {
  /** A route that needs keys:manage, called as `principal`. */
  function keyManagementAs(principal: Principal): Promise<Response> {
    const app = new Hono<AppEnv>();
    app.use(async (c, next) => {
      c.set("principal", principal);
      await next();
    });
    app.get("/manage", requireScope({ anyOf: ["keys:manage"] }), (c) => c.text("managed"));
    app.onError(onError);
    return Promise.resolve(app.request("/manage"));
  }

  it("admit a tenant admin to a keys:manage route", async () => {
    const response = await keyManagementAs({
      kind: "user",
      subject: "scope_admin",
      tenant: "acme",
      role: "tenant_admin",
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("managed");
  });

  it("refuse an analyst on a keys:manage route", async () => {
    const response = await keyManagementAs({ kind: "user", subject: "scope_analyst", tenant: "acme", role: "analyst" });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      status: 403,
      code: "insufficient-scope",
      detail: "Your role does not grant the scope this route needs (one of: keys:manage).",
    });
  });

  it("refuse an API key on a keys:manage route, whatever scopes it carries", async () => {
    const response = await keyManagementAs({
      kind: "api-key",
      subject: "scope-every-key-scope",
      tenant: "acme",
      scopes: ["metrics:read", "streams:read"],
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "insufficient-scope" });
  });

  it("refuse, at start-up, a scope nobody knows", () => {
    expect(() => requireScope({ anyOf: ["keys:everything" as "keys:manage"] })).toThrow(/known scopes/);
  });
});
