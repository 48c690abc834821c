import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import type { AppEnv } from "../../src/env.ts";
import { AppError, onError } from "../../src/errors.ts";
import { invalidCredentialBound } from "../../src/middleware/invalid-credential-bound.ts";
import { ratePolicy } from "../../src/rate-limit/policy.ts";
import { worker } from "../../src/worker.ts";
import { ORIGIN } from "../support/app.ts";
import { TEST_API_KEYS, TEST_JWT_SIGNING_KEY } from "../support/constants.ts";
import { dashboardSession, isolateApp, testClock } from "../support/isolate.ts";

const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};

const NAMESPACES = ["RATE_LIMITER", "KEY_REGISTRY", "SESSION_FAMILIES", "SIGN_IN_TURNS", "TENANT_KEYS"] as const;

/** One isolate of the worker whose Durable Object namespaces count the objects they are asked for. */
function countingIsolate() {
  const names = new Set<string>();
  const counted = Object.fromEntries(
    NAMESPACES.map((binding) => {
      const namespace = env[binding] as unknown as DurableObjectNamespace;
      return [
        binding,
        {
          idFromName: (name: string) => {
            names.add(`${binding}:${name}`);
            return namespace.idFromName(name);
          },
          idFromString: (id: string) => {
            names.add(`${binding}:${id}`);
            return namespace.idFromString(id);
          },
          get: (id: DurableObjectId) => namespace.get(id),
        },
      ];
    }),
  );
  const isolateEnv = { ...env, ...counted } as unknown as Env;
  const fetch = async (path: string, ip: string, headers: Record<string, string> = {}) => {
    const ctx = createExecutionContext();
    const request = new Request(`${ORIGIN}${path}`, { headers: { "CF-Connecting-IP": ip, ...headers } });
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, isolateEnv, ctx);
    const body = await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    return new Response(body, response);
  };
  return { fetch, objectsAsked: () => names.size };
}

describe("invalid credential bound through the worker", () => {
  it("refuses a /24's 51st invalid credential in a minute from memory, touching no object, while a valid token from another network reads", async () => {
    const { fetch, objectsAsked } = countingIsolate();
    const forged = await issueToken(
      { sub: "globex_analyst", tenant: "globex" },
      { ...TOKENS, signingKey: "not-the-signing-key-0123456789abcdef" },
    );
    const paths = ["/auth/me", "/metrics/overview", "/streams"];
    const statuses: number[] = [];
    let lastRefusal: Response | undefined;
    for (let n = 0; n < 120; n++) {
      // Every request from another address of one /24: a per-address count would never refuse any.
      const credential: Record<string, string> =
        n % 3 === 0 ? {} : n % 3 === 1 ? { Authorization: `Bearer ${forged}` } : { "X-API-Key": `sfk_forged_${n}` };
      const response = await fetch(paths[n % 3]!, `100.88.17.${n + 1}`, credential);
      statuses.push(response.status);
      if (response.status === 429) lastRefusal = response;
    }
    expect(statuses.slice(0, 50).every((status) => status === 401 || status === 403)).toBe(true);
    expect(statuses.slice(50)).toEqual(Array(70).fill(429));
    expect(lastRefusal!.headers.get("content-type")).toBe("application/problem+json");
    expect(lastRefusal!.headers.get("ratelimit-policy")).toBe('"invalid-credentials";q=50;w=60');
    expect(Number(lastRefusal!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(lastRefusal!.headers.get("www-authenticate")).toBeNull();
    expect(objectsAsked()).toBe(0);

    const valid = await issueToken({ sub: "globex_analyst", tenant: "globex" }, TOKENS);
    const victim = await fetch("/auth/me", "100.88.18.5", { Authorization: `Bearer ${valid}` });
    expect(victim.status).toBe(200);
    expect(await victim.json()).toEqual({ kind: "user", subject: "globex_analyst", tenant: "globex" });
  });

  it("keeps answering a token, a key and a session cookie that authenticated in this isolate while an attacker has their /24 refused, and refuses one first seen there", async () => {
    const fetch = isolateApp(testClock());
    const me = (ip: string, headers: Record<string, string>) =>
      fetch("/auth/me", { headers: { "CF-Connecting-IP": ip, ...headers } });
    const dashboard = "http://localhost:5173";
    const session = await dashboardSession(fetch, "acme_analyst", {
      Origin: dashboard,
      "CF-Connecting-IP": "100.88.19.5",
    });
    const token = await issueToken({ sub: "globex_analyst", tenant: "globex" }, TOKENS);
    const victims: Record<string, string>[] = [
      { Authorization: `Bearer ${token}` },
      { "X-API-Key": TEST_API_KEYS.acmeCurrent.key },
      { Cookie: session.cookie, "X-CSRF-Token": session.csrf, Origin: dashboard },
    ];
    const answers = async () => {
      const statuses: number[] = [];
      for (const [n, headers] of victims.entries()) statuses.push((await me(`100.88.19.${10 + n}`, headers)).status);
      return statuses;
    };
    expect(await answers()).toEqual([200, 200, 200]);

    const forged = await issueToken(
      { sub: "globex_analyst", tenant: "globex" },
      { ...TOKENS, signingKey: "not-the-signing-key-0123456789abcdef" },
    );
    for (let n = 0; n < 50; n++) await me(`100.88.19.${100 + n}`, { Authorization: `Bearer ${forged}` });
    expect((await me("100.88.19.200", { Authorization: `Bearer ${forged}` })).status).toBe(429);

    expect(await answers(), "the victims' credentials, each authenticated here before").toEqual([200, 200, 200]);
    const firstSeen = await issueToken({ sub: "acme_admin", tenant: "acme" }, TOKENS);
    expect((await me("100.88.19.20", { Authorization: `Bearer ${firstSeen}` })).status).toBe(429);
  });
});

/**
 * A tiny app: `x-valid: yes` authenticates, by the `Authorization` text when there is one;
 * `/scoped` then refuses the principal with 403 anyway.
 */
function tinyApp(options: Parameters<typeof invalidCredentialBound>[0]) {
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use("*", invalidCredentialBound(options), async (c, next) => {
    if (c.req.header("x-valid") !== "yes")
      throw new AppError({ status: 401, code: "unauthorized", title: "Authentication required" });
    c.set("principal", { kind: "user", subject: "tiny_user", tenant: "tiny", role: "analyst" });
    c.set("credential", c.req.header("authorization"));
    await next();
  });
  app.get("/open", (c) => c.text("ok"));
  app.get("/scoped", () => {
    throw new AppError({ status: 403, code: "forbidden", title: "Forbidden" });
  });
  app.onError(onError);
  return (path: string, ip: string, valid = false, authorization?: string) =>
    app.request(path, {
      headers: {
        "CF-Connecting-IP": ip,
        ...(valid ? { "x-valid": "yes" } : {}),
        ...(authorization === undefined ? {} : { Authorization: authorization }),
      },
    });
}

describe("invalid credential bound", () => {
  const policy = ratePolicy("invalid-credentials", "2/minute", "closed");

  it("never counts a valid credential refused after authentication", async () => {
    const request = tinyApp({ policy });
    for (let i = 0; i < 5; i++) expect((await request("/scoped", "192.0.2.41", true)).status).toBe(403);
  });

  it("answers a valid credential from another network while one network is refused", async () => {
    const request = tinyApp({ policy });
    for (let i = 0; i < 2; i++) expect((await request("/open", `192.0.2.${50 + i}`)).status).toBe(401);
    expect((await request("/open", "192.0.2.52", true)).status).toBe(429);
    expect((await request("/open", "198.51.100.52", true)).status).toBe(200);
  });

  it("groups IPv6 clients by /64: rotating addresses inside one does not reset the count", async () => {
    const request = tinyApp({ policy });
    expect((await request("/open", "2001:db8:41::1")).status).toBe(401);
    expect((await request("/open", "2001:db8:41::2")).status).toBe(401);
    expect((await request("/open", "2001:db8:41::3", true)).status).toBe(429);
    expect((await request("/open", "2001:db8:41:1::1", true)).status).toBe(200);
  });

  it("passes a credential that authenticated before, and forgets it once it no longer does", async () => {
    const request = tinyApp({ policy });
    expect((await request("/open", "192.0.2.71", true, "Bearer kept")).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await request("/open", "192.0.2.72")).status).toBe(401);
    expect((await request("/open", "192.0.2.73", true, "Bearer kept")).status).toBe(200);
    // Revoked or expired since: authentication refuses it, and the bound stops passing it.
    expect((await request("/open", "192.0.2.73", false, "Bearer kept")).status).toBe(401);
    expect((await request("/open", "192.0.2.73", false, "Bearer kept")).status).toBe(429);
  });

  it("opens again when the window ends", async () => {
    let nowMs = 1_000_000;
    const request = tinyApp({ policy, clock: () => nowMs });
    for (let i = 0; i < 2; i++) await request("/open", "192.0.2.61");
    expect((await request("/open", "192.0.2.61", true)).status).toBe(429);
    nowMs += 60_000;
    expect((await request("/open", "192.0.2.61", true)).status).toBe(200);
  });

  it("remembers at most maxNetworks networks, forgetting the least recently refused first", async () => {
    const request = tinyApp({ policy, maxNetworks: 2 });
    for (let i = 0; i < 2; i++) await request("/open", "192.0.2.71");
    expect((await request("/open", "192.0.2.71")).status).toBe(429);
    await request("/open", "198.51.100.71");
    await request("/open", "203.0.113.71");
    // The first network was pushed out of the table: it is answered as new, not refused.
    expect((await request("/open", "192.0.2.71")).status).toBe(401);
  });
});
