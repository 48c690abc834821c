import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import type { UserRole } from "../../src/auth/roles.ts";
import { sessionTokens } from "../../src/auth/session-token.ts";
import { issueToken } from "../../src/auth/tokens.ts";
import { revocationShard } from "../../src/keys/registry.ts";
import { sessionFamilies } from "../../src/keys/session-families.ts";
import { TEST_API_KEYS, TEST_JWT_SIGNING_KEY, TEST_TOKENS } from "../support/constants.ts";
import {
  adminRequest,
  dashboardSession,
  type IsolateFetch,
  isolateApp,
  type TestClock,
  testClock,
} from "../support/isolate.ts";
import { createTenant, deleteUser, moveUser } from "../support/owner-db.ts";

const DASHBOARD = "http://localhost:5173";
const COOKIE_ATTRIBUTES = "Path=/; HttpOnly; Secure; SameSite=Strict";

let ipCounter = 0;
/** A client address in a /24 of its own, so login limits never couple tests. */
function freshIp(): string {
  ipCounter++;
  return `10.${150 + Math.floor(ipCounter / 250)}.${ipCounter % 250}.9`;
}

interface SessionBody {
  csrfToken: string;
  expiresAt: string;
  principal: { subject: string; tenant: string; role: string };
}

interface Signed {
  /** `__Host-sf-session=<value>`, as the browser sends it back. */
  cookie: string;
  /** The cookie's value alone. */
  value: string;
  body: SessionBody;
  setCookie: string;
}

/** The session cookie a response set, with the exact attributes the contract names. */
function sessionCookieOf(response: Response): { cookie: string; value: string; maxAge: number; setCookie: string } {
  const setCookie = response.headers.getSetCookie().find((line) => line.startsWith("__Host-sf-session="));
  expect(setCookie, "session Set-Cookie").toBeDefined();
  const match = /^__Host-sf-session=([A-Za-z0-9_.-]*); Max-Age=(\d+); Path=\/; HttpOnly; Secure; SameSite=Strict$/.exec(
    setCookie!,
  );
  expect(match, setCookie).not.toBeNull();
  return {
    cookie: `__Host-sf-session=${match![1]}`,
    value: match![1]!,
    maxAge: Number(match![2]),
    setCookie: setCookie!,
  };
}

function signIn(
  fetch: IsolateFetch,
  body: unknown,
  headers: Record<string, string> = {},
  path = "/auth/session",
): Promise<Response> {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp(), ...headers },
    body: JSON.stringify(body),
  });
}

async function signedIn(fetch: IsolateFetch, username = "acme_analyst"): Promise<Signed> {
  const response = await signIn(fetch, { username, password: DEMO_PASSWORD });
  expect(response.status).toBe(200);
  const { cookie, value, setCookie } = sessionCookieOf(response);
  return { cookie, value, setCookie, body: (await response.json()) as SessionBody };
}

/** A request as the dashboard's page sends it: its origin, the cookie and, unless left out, the CSRF token. */
function withSession(
  fetch: IsolateFetch,
  path: string,
  session: { cookie: string; csrf?: string },
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    Origin: DASHBOARD,
    Cookie: session.cookie,
    "CF-Connecting-IP": freshIp(),
    ...init.headers,
  };
  if (session.csrf !== undefined) headers["X-CSRF-Token"] = session.csrf;
  return fetch(path, { method: init.method ?? "GET", headers });
}

/**
 * A username lane of its own, spaced 3.6 ms (username-turns.ts keys lanes by policy): wrong passwords
 * for demo users here neither wait on each other nor shut the demo users' lanes for other files.
 */
const LANE_OF_ITS_OWN = { RATE_LIMIT_LOGIN_USERNAME: "1000000/hour" };

const asPage = (signed: Signed) => ({ cookie: signed.cookie, csrf: signed.body.csrfToken });

function app(overrides: Record<string, unknown> = {}, startMs?: number): { fetch: IsolateFetch; clock: TestClock } {
  const clock = testClock(startMs);
  return { fetch: isolateApp(clock, overrides), clock };
}

describe("POST /auth/session", () => {
  it("signs in with the login body and sets an HttpOnly, Secure, SameSite=Strict __Host- cookie for the idle TTL", async () => {
    const { fetch, clock } = app();
    const response = await signIn(fetch, { username: "acme_analyst", password: DEMO_PASSWORD }, { Origin: DASHBOARD });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    const { maxAge, setCookie } = sessionCookieOf(response);
    expect(maxAge).toBe(3600);
    expect(setCookie).toContain(COOKIE_ATTRIBUTES);
    expect(setCookie).not.toMatch(/Domain=/i);
    // The same sign-in as /auth/login: the device cookie is renewed too.
    expect(response.headers.getSetCookie().some((line) => line.startsWith("__Host-sf-device="))).toBe(true);
    const body = (await response.json()) as SessionBody;
    expect(body).toEqual({
      csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      expiresAt: new Date((Math.floor(clock.now() / 1000) + 3600) * 1000).toISOString(),
      principal: { subject: "acme_analyst", tenant: "acme", role: "analyst" },
    });
    expect(JSON.stringify(body)).not.toContain(sessionCookieOf(response).value);
  });

  it("answers a wrong password and an unknown user exactly as /auth/login does", async () => {
    const { fetch } = app(LANE_OF_ITS_OWN);
    const strip = async (response: Response) => {
      const { request_id: _id, instance: _instance, ...rest } = (await response.json()) as Record<string, unknown>;
      return { status: response.status, rest, setCookie: response.headers.getSetCookie() };
    };
    const viaLogin = await strip(
      await signIn(fetch, { username: "acme_analyst", password: "wrong-password-1" }, {}, "/auth/login"),
    );
    const viaSession = await strip(await signIn(fetch, { username: "acme_analyst", password: "wrong-password-1" }));
    const unknown = await strip(await signIn(fetch, { username: "nobody_at_all", password: "wrong-password-1" }));
    expect(viaLogin.status).toBe(401);
    expect(viaSession).toEqual(viaLogin);
    expect(unknown).toEqual(viaLogin);
    expect(viaSession.setCookie).toEqual([]);
  });

  it("refuses a malformed body with the same 400 field problems, and another content type with 415", async () => {
    const { fetch } = app();
    const response = await signIn(fetch, { username: "acme analyst", password: "short", role: "admin" });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe("validation-failed");
    expect(problem.errors.map((error) => error.path).sort()).toEqual(["body.password", "body.role", "body.username"]);
    const form = await fetch("/auth/session", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "CF-Connecting-IP": freshIp() },
      body: "username=acme_analyst",
    });
    expect(form.status).toBe(415);
    expect(form.headers.getSetCookie()).toEqual([]);
  });

  it("refuses a browser origin outside the allowlist before any sign-in attempt is spent", async () => {
    const { fetch } = app();
    const ip = freshIp();
    for (let i = 0; i < 6; i++) {
      const refused = await signIn(
        fetch,
        { username: "acme_analyst", password: DEMO_PASSWORD },
        { Origin: "https://evil.streamforge.test", "CF-Connecting-IP": ip },
      );
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe("origin-not-allowed");
      expect(refused.headers.getSetCookie()).toEqual([]);
    }
    expect(
      (await signIn(fetch, { username: "acme_analyst", password: DEMO_PASSWORD }, { "CF-Connecting-IP": ip })).status,
    ).toBe(200);
  });

  it("shares the login limits with /auth/login: attempts on either count against one per-IP allowance", async () => {
    const { fetch } = app();
    const ip = freshIp();
    const attempt = (path: string, i: number) =>
      signIn(fetch, { username: `shared_probe_${i}`, password: "guess-password" }, { "CF-Connecting-IP": ip }, path);
    for (let i = 0; i < 5; i++)
      expect((await attempt(i % 2 === 0 ? "/auth/login" : "/auth/session", i)).status).toBe(401);
    for (const path of ["/auth/session", "/auth/login"]) {
      const limited = await attempt(path, 9);
      expect(limited.status, path).toBe(429);
      expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(limited.headers.get("ratelimit-policy")).toContain('"login-ip";q=5;w=60');
    }
  });

  it("shares the username's lane with /auth/login: a guess through one shuts it for the other", async () => {
    const { fetch } = app();
    const username = "shared_target_user";
    expect((await signIn(fetch, { username, password: "guess-password" }, {}, "/auth/login")).status).toBe(401);
    const limited = await signIn(fetch, { username, password: "guess-password" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("ratelimit-policy")).toBe('"login-username";q=10;w=3600');
  });
});

describe("GET /auth/session", () => {
  it("tells a reloaded page it is signed in and gives the same CSRF token back, without needing one", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const response = await withSession(fetch, "/auth/session", { cookie: signed.cookie });
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie()).toEqual([]);
    expect(await response.json()).toEqual(signed.body);
  });

  it("answers no cookie with 401 and the API's challenge, and a garbage cookie with invalid_token", async () => {
    const { fetch } = app();
    const none = await fetch("/auth/session", { headers: { "CF-Connecting-IP": freshIp() } });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="streamforge"');
    const garbage = await withSession(fetch, "/auth/session", { cookie: "__Host-sf-session=not.a.session" });
    expect(garbage.status).toBe(401);
    expect(garbage.headers.get("www-authenticate")).toBe('Bearer realm="streamforge", error="invalid_token"');
    expect(((await garbage.json()) as { code: string }).code).toBe("unauthorized");
  });

  it("refuses a cookie whose claims were changed after signing", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const [header, payload, signature] = signed.value.split(".") as [string, string, string];
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    const forged = btoa(JSON.stringify({ ...claims, tenant: "globex" }))
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_");
    for (const value of [
      `${header}.${forged}.${signature}`,
      `${header}.${payload}.${signature.slice(0, -2)}AA`,
      `${header}.${payload}.`,
    ]) {
      const response = await withSession(fetch, "/auth/session", { cookie: `__Host-sf-session=${value}` });
      expect(response.status, value).toBe(401);
    }
  });

  it("ends after the idle TTL without a refresh", async () => {
    const { fetch, clock } = app({ SESSION_TTL_SECONDS: "600" });
    const signed = await signedIn(fetch);
    clock.advance(599_000);
    expect((await withSession(fetch, "/auth/session", { cookie: signed.cookie })).status).toBe(200);
    clock.advance(1_000);
    expect((await withSession(fetch, "/auth/session", { cookie: signed.cookie })).status).toBe(401);
    expect((await withSession(fetch, "/auth/me", asPage(signed))).status).toBe(401);
  });
});

describe("the session cookie on authenticated reads", () => {
  it("authenticates /auth/me with the cookie and its CSRF token, as the user", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch, "globex_analyst");
    const response = await withSession(fetch, "/auth/me", asPage(signed));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ kind: "user", subject: "globex_analyst", tenant: "globex" });
    expect(response.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(response.headers.get("access-control-expose-headers")).toContain("RateLimit");
  });

  it("scopes data to the session's tenant exactly as the user's bearer token does", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch, "globex_analyst");
    const token = await issueToken({ sub: "globex_analyst", tenant: "globex" }, TEST_TOKENS);
    for (const path of ["/streams", "/metrics/overview?window=24h"]) {
      const viaCookie = await withSession(fetch, path, asPage(signed));
      const viaToken = await fetch(path, {
        headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": freshIp() },
      });
      expect(viaCookie.status, path).toBe(200);
      expect(await viaCookie.json()).toEqual(await viaToken.json());
    }
  });

  it.each([
    ["no CSRF token", () => undefined],
    ["an empty CSRF token", () => ""],
    ["a CSRF token of the right shape but wrong", () => "A".repeat(43)],
    ["a malformed CSRF token", () => "../../etc/passwd"],
  ])("refuses %s with a 403 problem", async (_label, csrf) => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const response = await withSession(fetch, "/auth/me", { cookie: signed.cookie, csrf: csrf() });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ status: 403, code: "csrf-token-invalid" });
  });

  it("refuses another session's CSRF token: the token is bound to its session", async () => {
    const { fetch } = app();
    const mine = await signedIn(fetch);
    const other = await signedIn(fetch);
    expect(other.body.csrfToken).not.toBe(mine.body.csrfToken);
    const response = await withSession(fetch, "/auth/me", { cookie: mine.cookie, csrf: other.body.csrfToken });
    expect(response.status).toBe(403);
    expect((await withSession(fetch, "/auth/me", asPage(mine))).status).toBe(200);
  });

  it.each([
    ["a sibling subdomain", "https://evil.streamforge.test"],
    ["the null origin", "null"],
    ["another port of the dashboard's host", "http://localhost:5174"],
  ])("refuses a valid cookie and CSRF token sent from %s with 403", async (_label, origin) => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const response = await withSession(fetch, "/auth/me", asPage(signed), { headers: { Origin: origin } });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "origin-not-allowed" });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("accepts the cookie without an Origin header (a same-origin GET sends none)", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const response = await fetch("/auth/me", {
      headers: { Cookie: signed.cookie, "X-CSRF-Token": signed.body.csrfToken, "CF-Connecting-IP": freshIp() },
    });
    expect(response.status).toBe(200);
  });

  it("refuses an access token presented as the session cookie, and the session cookie's value presented as a bearer token", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const accessToken = await issueToken({ sub: "acme_analyst", tenant: "acme" }, TEST_TOKENS);
    const tokenAsCookie = await withSession(fetch, "/auth/me", {
      cookie: `__Host-sf-session=${accessToken}`,
      csrf: signed.body.csrfToken,
    });
    expect(tokenAsCookie.status).toBe(401);
    expect((await withSession(fetch, "/auth/session", { cookie: `__Host-sf-session=${accessToken}` })).status).toBe(
      401,
    );
    const cookieAsBearer = await fetch("/auth/me", {
      headers: { Authorization: `Bearer ${signed.value}`, "CF-Connecting-IP": freshIp() },
    });
    expect(cookieAsBearer.status).toBe(401);
    expect(cookieAsBearer.headers.get("www-authenticate")).toBe('Bearer realm="streamforge", error="invalid_token"');
  });

  it("answers the cookie together with a bearer token or an API key with 400", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const accessToken = await issueToken({ sub: "acme_analyst", tenant: "acme" }, TEST_TOKENS);
    const extras: Record<string, string>[] = [
      { Authorization: `Bearer ${accessToken}` },
      { "X-API-Key": TEST_API_KEYS.acmeCurrent.key },
    ];
    for (const extra of extras) {
      const response = await withSession(fetch, "/auth/me", asPage(signed), { headers: extra });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: "ambiguous-credentials" });
    }
  });
});

describe("POST /auth/session/refresh", () => {
  it("replaces the session: a new cookie and CSRF token, the same sign-in, and the old cookie refused at once", async () => {
    const { fetch, clock } = app();
    const first = await signedIn(fetch);
    clock.advance(60_000);
    const response = await withSession(fetch, "/auth/session/refresh", asPage(first), { method: "POST" });
    expect(response.status).toBe(200);
    const next = sessionCookieOf(response);
    const body = (await response.json()) as SessionBody;
    expect(next.value).not.toBe(first.value);
    expect(next.maxAge).toBe(3600);
    expect(body.csrfToken).not.toBe(first.body.csrfToken);
    expect(body.principal).toEqual(first.body.principal);
    expect(Date.parse(body.expiresAt) - Date.parse(first.body.expiresAt)).toBe(60_000);

    expect((await withSession(fetch, "/auth/session", { cookie: first.cookie })).status).toBe(401);
    expect((await withSession(fetch, "/auth/me", asPage(first))).status).toBe(401);
    const renewed = { cookie: next.cookie, csrf: body.csrfToken };
    expect((await withSession(fetch, "/auth/me", renewed)).status).toBe(200);
    // The old CSRF token does not go with the new session.
    expect((await withSession(fetch, "/auth/me", { cookie: next.cookie, csrf: first.body.csrfToken })).status).toBe(
      403,
    );
  });

  it("needs the CSRF token, and leaves the session alone without it", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const refused = await withSession(fetch, "/auth/session/refresh", { cookie: signed.cookie }, { method: "POST" });
    expect(refused.status).toBe(403);
    expect(refused.headers.getSetCookie()).toEqual([]);
    expect((await withSession(fetch, "/auth/me", asPage(signed))).status).toBe(200);
  });

  it("never extends the absolute lifetime, however often the session is refreshed", async () => {
    const { fetch, clock } = app({ SESSION_TTL_SECONDS: "600", SESSION_MAX_LIFETIME_SECONDS: "1500" });
    let session = asPage(await signedIn(fetch));
    const signInSeconds = Math.floor(clock.now() / 1000);
    const maxAges: number[] = [];
    const ends: number[] = [];
    for (const waitSeconds of [500, 500, 490]) {
      clock.advance(waitSeconds * 1000);
      const response = await withSession(fetch, "/auth/session/refresh", session, { method: "POST" });
      expect(response.status).toBe(200);
      const next = sessionCookieOf(response);
      const body = (await response.json()) as SessionBody;
      maxAges.push(next.maxAge);
      ends.push(Date.parse(body.expiresAt) / 1000 - signInSeconds);
      session = { cookie: next.cookie, csrf: body.csrfToken };
    }
    // Idle TTL while it fits, then the absolute end: 1,500 s after the password was typed.
    expect(ends).toEqual([1100, 1500, 1500]);
    expect(maxAges).toEqual([600, 500, 10]);
    clock.advance(10_000);
    expect((await withSession(fetch, "/auth/session/refresh", session, { method: "POST" })).status).toBe(401);
    expect((await withSession(fetch, "/auth/session", { cookie: session.cookie })).status).toBe(401);
  });
});

describe("POST /auth/logout", () => {
  it("revokes the session on the server and clears the cookie with the same attributes", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const response = await withSession(fetch, "/auth/logout", asPage(signed), { method: "POST" });
    expect(response.status).toBe(204);
    expect(response.headers.getSetCookie()).toEqual([`__Host-sf-session=; Max-Age=0; ${COOKIE_ATTRIBUTES}`]);
    // The old cookie replayed, as a stolen copy would be:
    expect((await withSession(fetch, "/auth/session", { cookie: signed.cookie })).status).toBe(401);
    expect((await withSession(fetch, "/auth/me", asPage(signed))).status).toBe(401);
    expect((await withSession(fetch, "/auth/logout", asPage(signed), { method: "POST" })).status).toBe(401);
  });

  it("needs the CSRF token: a forged sign-out is refused and the session lives on", async () => {
    const { fetch } = app();
    const signed = await signedIn(fetch);
    const refused = await withSession(fetch, "/auth/logout", { cookie: signed.cookie }, { method: "POST" });
    expect(refused.status).toBe(403);
    expect(refused.headers.getSetCookie()).toEqual([]);
    expect((await withSession(fetch, "/auth/session", { cookie: signed.cookie })).status).toBe(200);
  });

  it("reaches every other isolate within the revocation list's bound", async () => {
    const clock = testClock();
    const first = isolateApp(clock);
    const second = isolateApp(clock);
    const signed = await signedIn(first);
    expect((await withSession(second, "/auth/me", asPage(signed))).status).toBe(200);
    expect((await withSession(first, "/auth/logout", asPage(signed), { method: "POST" })).status).toBe(204);
    expect((await withSession(first, "/auth/me", asPage(signed))).status).toBe(401);
    // The other isolate still holds a copy of the list from before the sign-out: it may accept the
    // cookie until that copy is 45 s old, and never after.
    expect((await withSession(second, "/auth/me", asPage(signed))).status).toBe(200);
    clock.advance(45_000);
    expect((await withSession(second, "/auth/me", asPage(signed))).status).toBe(401);
  });

  it("also ends when the user's tokens are revoked: sessions signed in before count as issued before", async () => {
    // An hour in the past, so the revocation refuses no token another test issues now.
    const { fetch, clock } = app({}, Date.now() - 3_600_000);
    const signed = await signedIn(fetch, "initech_analyst");
    clock.advance(1_000);
    expect(
      (await adminRequest(fetch, "POST", "/admin/revocations", { kind: "user", subject: "initech_analyst" })).status,
    ).toBe(201);
    clock.advance(45_000);
    expect((await withSession(fetch, "/auth/me", asPage(signed))).status).toBe(401);
    clock.advance(1_000);
    const again = await signedIn(fetch, "initech_analyst");
    expect((await withSession(fetch, "/auth/me", asPage(again))).status).toBe(200);
  });
});

describe("session rotation", () => {
  const refresh = (fetch: IsolateFetch, session: { cookie: string; csrf: string }, ip?: string) =>
    withSession(fetch, "/auth/session/refresh", session, {
      method: "POST",
      headers: ip === undefined ? {} : { "CF-Connecting-IP": ip },
    });
  const renewedFrom = async (response: Response) => ({
    cookie: sessionCookieOf(response).cookie,
    csrf: ((await response.json()) as SessionBody).csrfToken,
  });

  it("refuses a refresh, on an isolate whose copy is 40 s old, of a cookie signed out on another", async () => {
    const clock = testClock();
    const [first, second] = [isolateApp(clock), isolateApp(clock)];
    const signed = await signedIn(first);
    expect((await withSession(second, "/auth/me", asPage(signed))).status).toBe(200);
    clock.advance(1_000);
    expect((await withSession(first, "/auth/logout", asPage(signed), { method: "POST" })).status).toBe(204);
    clock.advance(40_000);
    const replayed = await refresh(second, asPage(signed));
    expect(replayed.status).toBe(401);
    expect(replayed.headers.getSetCookie()).toEqual([]);
  });

  it("leaves at most one live session after 10 concurrent refreshes of one cookie", async () => {
    const clock = testClock();
    const signed = await signedIn(isolateApp(clock));
    const isolates = Array.from({ length: 10 }, () => isolateApp(clock));
    const answers = await Promise.all(isolates.map((fetch) => refresh(fetch, asPage(signed))));
    const renewed = await Promise.all(answers.filter((answer) => answer.status === 200).map(renewedFrom));
    const fresh = isolateApp(clock);
    const live = (await Promise.all(renewed.map((session) => withSession(fresh, "/auth/me", session)))).filter(
      (answer) => answer.status === 200,
    );
    expect(live.length).toBeLessThanOrEqual(1);
  });

  it("ends the whole family when a rotated cookie is presented again", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const stolen = asPage(await signedIn(fetch));
    const victim = await renewedFrom(await refresh(fetch, stolen));
    // Past the grace a racing tab gets (src/keys/session-families.ts): this is a replay.
    clock.advance(10_000);
    expect((await refresh(fetch, stolen)).status).toBe(401);
    // The victim's current cookie dies with it, on this isolate at once and on a new one too.
    expect((await withSession(fetch, "/auth/me", victim)).status).toBe(401);
    expect((await withSession(isolateApp(clock), "/auth/me", victim)).status).toBe(401);
    expect((await refresh(isolateApp(clock), victim)).status).toBe(401);
  });

  it("a user refreshing from 1,000 /64s for 10 minutes adds at most 1 KB of registry state and costs tenant B nothing", {
    timeout: 120_000,
  }, async () => {
    const clock = testClock();
    const attacker = isolateApp(clock);
    // The attacker's tenant's list: the one its refreshes would grow if they added anything.
    const registry = revocationShard(env.KEY_REGISTRY, "acme");
    const { seq: before } = await registry.revocationsSince(Number.MAX_SAFE_INTEGER);
    const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;
    const owner = sessionFamilies(env.SESSION_FAMILIES, "acme_analyst");
    const heldBefore = bytes(await owner.live(Math.floor(clock.now() / 1000)));
    let session = asPage(await signedIn(attacker, "acme_analyst"));
    const victim = asPage(await signedIn(isolateApp(clock), "globex_analyst"));
    const victimAnswers: number[] = [];
    // Each refresh needs the cookie the one before it returned: 100 in a row, each from another of
    // 1,000 /64s so no per-address limit slows them, 6 s apart over 10 minutes. Had a refresh added
    // as much as 11 bytes, 100 of them would pass the 1 KB below.
    for (let i = 0; i < 100; i++) {
      const answer = await refresh(attacker, session, `2001:db8:17:${(i * 10).toString(16)}::1`);
      expect(answer.status).toBe(200);
      session = await renewedFrom(answer);
      clock.advance(6_000);
      if (i % 10 === 9) victimAnswers.push((await withSession(isolateApp(clock), "/auth/me", victim)).status);
    }
    const added = await registry.revocationsSince(before);
    const heldAfter = bytes(await owner.live(Math.floor(clock.now() / 1000)));
    // The sign-in may add one family; 300 refreshes add nothing. Whatever was there, 10 families at most.
    expect(bytes(added.entries) + heldAfter - heldBefore).toBeLessThanOrEqual(1024);
    expect(heldAfter).toBeLessThanOrEqual(10 * 160);
    expect(victimAnswers).toEqual(Array(10).fill(200));
    const firstSync = await registry.revocationsSince(0);
    expect(new TextEncoder().encode(JSON.stringify(firstSync)).length).toBeLessThanOrEqual(64 * 1024);
  });
});

describe("two tabs refreshing at once", () => {
  it("refuses the tab that lost the race without ending the session the other one renewed", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const shared = asPage(await signedIn(fetch));
    const refresh = (session: { cookie: string; csrf: string }) =>
      withSession(fetch, "/auth/session/refresh", session, { method: "POST" });
    const won = await refresh(shared);
    expect(won.status).toBe(200);
    clock.advance(2_000);
    const lost = await refresh(shared);
    expect(lost.status).toBe(401);
    expect(lost.headers.getSetCookie()).toEqual([]);
    const renewed = { cookie: sessionCookieOf(won).cookie, csrf: ((await won.json()) as SessionBody).csrfToken };
    expect((await withSession(isolateApp(clock), "/auth/me", renewed)).status).toBe(200);
    expect((await refresh(renewed)).status).toBe(200);
  });
});

describe("principals re-read on refresh", () => {
  const settings = {
    signingKey: TEST_JWT_SIGNING_KEY,
    issuer: TEST_TOKENS.issuer,
    ttlSeconds: 3600,
    maxLifetimeSeconds: 43200,
  };

  /** A session signed in while the database said `principal`, recorded by its owner as a sign-in would. */
  async function signedInAs(clock: TestClock, principal: { subject: string; tenant: string; role: UserRole }) {
    const tokens = sessionTokens(settings);
    const { token, session } = await tokens.issue(principal, clock.now());
    const endsAtSeconds = session.authTimeSeconds + settings.maxLifetimeSeconds;
    await sessionFamilies(env.SESSION_FAMILIES, principal.subject).start(
      { id: session.familyId, tenant: principal.tenant, authTimeSeconds: session.authTimeSeconds, endsAtSeconds },
      Math.floor(clock.now() / 1000),
    );
    return {
      page: { cookie: `__Host-sf-session=${token}`, csrf: await tokens.csrfToken(session.id) },
      familyId: session.familyId,
    };
  }

  it.each([
    ["deleted since sign-in", { subject: "deleted_since_signin", tenant: "acme", role: "analyst" }],
    ["moved to another tenant since sign-in", { subject: "globex_analyst", tenant: "acme", role: "analyst" }],
    ["given another role since sign-in", { subject: "globex_analyst", tenant: "globex", role: "tenant_admin" }],
  ] as const)("ends the family of a user %s at the next refresh", async (_label, principal) => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const { page, familyId } = await signedInAs(clock, principal);
    expect((await withSession(fetch, "/auth/me", page)).status).toBe(200);
    const refused = await withSession(fetch, "/auth/session/refresh", page, { method: "POST" });
    expect(refused.status).toBe(401);
    expect(refused.headers.getSetCookie()).toEqual([]);
    const live = await sessionFamilies(env.SESSION_FAMILIES, principal.subject).live(Math.floor(clock.now() / 1000));
    expect(live.map((family) => family.id)).not.toContain(familyId);
    expect((await withSession(fetch, "/auth/me", page)).status).toBe(401);
  });

  it("still refreshes a user who is where the session says", async () => {
    const clock = testClock();
    const { page } = await signedInAs(clock, { subject: "initech_analyst", tenant: "initech", role: "analyst" });
    expect((await withSession(isolateApp(clock), "/auth/session/refresh", page, { method: "POST" })).status).toBe(200);
  });
});

describe("a user moved to another tenant or deleted", () => {
  const FROM = "session-move-from";
  const TO = "session-move-to";

  it.each([
    ["moved to another tenant", "session_moved_user", (username: string) => moveUser(username, TO)],
    ["deleted", "session_deleted_user", deleteUser],
  ] as const)(
    "once %s: the session's refresh is refused and ends it, and a bearer token from before works no longer than its lifetime",
    async (_label, username, change) => {
      await createTenant({ slug: TO, users: [] });
      await createTenant({ slug: FROM, users: [{ username, role: "analyst" }] });
      const clock = testClock();
      const fetch = isolateApp(clock);
      const login = await fetch("/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
        body: JSON.stringify({ username, password: DEMO_PASSWORD }),
      });
      expect(login.status).toBe(200);
      const { access_token: token, expires_in: lifetimeSeconds } = (await login.json()) as {
        access_token: string;
        expires_in: number;
      };
      const page = await dashboardSession(fetch, username, { Origin: DASHBOARD, "CF-Connecting-IP": freshIp() });
      const withToken = () =>
        fetch("/auth/me", { headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": freshIp() } });
      expect(await (await withToken()).json()).toMatchObject({ subject: username, tenant: FROM });
      expect((await withSession(fetch, "/auth/me", page)).status).toBe(200);

      await change(username);

      const refresh = await withSession(fetch, "/auth/session/refresh", page, { method: "POST" });
      expect(refresh.status).toBe(401);
      expect(refresh.headers.getSetCookie()).toEqual([]);
      expect((await withSession(fetch, "/auth/me", page)).status).toBe(401);
      // A signed token is not looked up: it keeps the tenant it was issued for until it expires, and not a second longer.
      clock.advance(lifetimeSeconds * 1000 - 1000);
      const lastSecond = await withToken();
      expect(lastSecond.status).toBe(200);
      expect(await lastSecond.json()).toMatchObject({ subject: username, tenant: FROM });
      clock.advance(1000);
      const expired = await withToken();
      expect(expired.status).toBe(401);
      expect(expired.headers.get("www-authenticate")).toBe('Bearer realm="streamforge", error="invalid_token"');
    },
  );
});

describe("session audit lines", () => {
  afterEach(() => vi.restoreAllMocks());

  it("audits each session decision and never writes a cookie value, a CSRF token or a password into any console line", async () => {
    const lines: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const { fetch } = app(LANE_OF_ITS_OWN);
    await signIn(fetch, { username: "acme_analyst", password: "secret-wrong-pass" });
    const signed = await signedIn(fetch);
    await withSession(fetch, "/auth/me", asPage(signed));
    await withSession(fetch, "/auth/me", { cookie: signed.cookie, csrf: "B".repeat(43) });
    await withSession(fetch, "/auth/me", asPage(signed), { headers: { Origin: "https://evil.streamforge.test" } });
    const refreshed = await withSession(fetch, "/auth/session/refresh", asPage(signed), { method: "POST" });
    const next = sessionCookieOf(refreshed);
    const nextCsrf = ((await refreshed.json()) as SessionBody).csrfToken;
    await withSession(fetch, "/auth/me", asPage(signed));
    await withSession(fetch, "/auth/logout", { cookie: next.cookie, csrf: nextCsrf }, { method: "POST" });
    await withSession(fetch, "/auth/me", { cookie: next.cookie, csrf: nextCsrf });
    const joined = lines.join("\n");
    const audited = lines
      .filter((line) => line.includes('"event":"audit"'))
      .map((line) => JSON.parse(line) as Record<string, string>);
    const decisions = audited
      .filter((event) => event.action!.startsWith("auth.session") || event.action === "auth.logout")
      .map(({ action, outcome, reason }) => ({ action, outcome, reason }));
    expect(decisions).toEqual([
      { action: "auth.session", outcome: "refused", reason: "csrf-token-invalid" },
      { action: "auth.session", outcome: "refused", reason: "origin-not-allowed" },
      { action: "auth.session.refresh", outcome: "success", reason: undefined },
      { action: "auth.session", outcome: "refused", reason: "revoked" },
      { action: "auth.logout", outcome: "success", reason: undefined },
      { action: "auth.session", outcome: "refused", reason: "revoked" },
    ]);
    expect(audited.filter((event) => event.action === "auth.logout")[0]).toMatchObject({ subject: "acme_analyst" });
    for (const secret of [
      DEMO_PASSWORD,
      "secret-wrong-pass",
      signed.value,
      signed.body.csrfToken,
      next.value,
      nextCsrf,
      "B".repeat(43),
    ])
      expect(joined).not.toContain(secret);
    // The signature alone is what makes a cookie a credential.
    expect(joined).not.toContain(signed.value.split(".")[2]!);
  });
});
