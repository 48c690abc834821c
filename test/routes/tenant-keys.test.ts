import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { SCANNABLE_KEY_PATTERN } from "../../src/auth/api-keys.ts";
import { issueToken } from "../../src/auth/tokens.ts";
import { tenantKeys } from "../../src/keys/tenant-keys.ts";
import { TEST_TOKENS as TOKENS } from "../support/constants.ts";
import {
  adminRequest,
  dashboardSession,
  type IsolateFetch,
  isolateApp,
  issueKey,
  type TestClock,
  testClock,
  uniqueName,
} from "../support/isolate.ts";
import { createTenant, setRole } from "../support/owner-db.ts";

const DASHBOARD = "http://localhost:5173";
const TENANT_A = "tkeys-a";
const TENANT_B = "tkeys-b";
const NARROW = "tkeys-narrow";
const A_ADMIN = "tkeys_a_admin";
const A_DEMOTED = "tkeys_a_demoted";
const A_ANALYST = "tkeys_a_analyst";
const B_ADMIN = "tkeys_b_admin";
const NARROW_ADMIN = "tkeys_narrow_admin";
const KEY = new RegExp(`^${SCANNABLE_KEY_PATTERN}$`);

let ipCounter = 0;
/** A client address in a /24 of its own: the login and read limits never couple tests. */
function freshIp(): string {
  ipCounter++;
  return `10.${190 + Math.floor(ipCounter / 250)}.${ipCounter % 250}.31`;
}

interface Page {
  cookie: string;
  csrf: string;
}

const signedIn = (fetch: IsolateFetch, username: string): Promise<Page> =>
  dashboardSession(fetch, username, { Origin: DASHBOARD, "CF-Connecting-IP": freshIp() });

/** A call as the dashboard's page makes it, or with one part changed by `headers`. */
function asPage(
  fetch: IsolateFetch,
  page: Page,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string | undefined> = {},
): Promise<Response> {
  const all: Record<string, string | undefined> = {
    Origin: DASHBOARD,
    Cookie: page.cookie,
    "X-CSRF-Token": page.csrf,
    "CF-Connecting-IP": freshIp(),
    ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    ...headers,
  };
  return fetch(path, {
    method,
    headers: Object.fromEntries(
      Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

interface NewKey {
  id: string;
  key: string;
  state: string;
  scopes: string[];
  rate_limit: string;
  expires_at: string;
  rolled_from: string | null;
}

async function created(fetch: IsolateFetch, page: Page, body: Record<string, unknown> = {}): Promise<NewKey> {
  const response = await asPage(fetch, page, "POST", "/tenant/keys", {
    name: "CI deploys",
    scopes: ["streams:read"],
    ...body,
  });
  expect(response.status).toBe(201);
  return (await response.json()) as NewKey;
}

const withKey = (fetch: IsolateFetch, key: string) =>
  fetch("/auth/me", { headers: { "X-API-Key": key, "CF-Connecting-IP": freshIp() } });

async function listed(fetch: IsolateFetch, page: Page) {
  const response = await asPage(fetch, page, "GET", "/tenant/keys");
  expect(response.status).toBe(200);
  return ((await response.json()) as { keys: Record<string, unknown>[] }).keys;
}

/** Simulated time until every isolate's copy of the revocation list has been renewed: the 60 s bound. */
const pastListBound = (clock: TestClock) => clock.advance(60_000);

beforeAll(async () => {
  await createTenant({
    slug: TENANT_A,
    users: [
      { username: A_ADMIN, role: "tenant_admin" },
      { username: A_DEMOTED, role: "tenant_admin" },
      { username: A_ANALYST, role: "analyst" },
    ],
  });
  await createTenant({ slug: TENANT_B, users: [{ username: B_ADMIN, role: "tenant_admin" }] });
  await createTenant({
    slug: NARROW,
    users: [{ username: NARROW_ADMIN, role: "tenant_admin" }],
    keyScopes: ["streams:read"],
    keyRateCeiling: "60/minute",
  });
});

describe("tenant key management: create and list", () => {
  it("creates a key that is shown once, in the scannable format, and works at once with the scope chosen", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const admin = await signedIn(fetch, A_ADMIN);
    const response = await asPage(fetch, admin, "POST", "/tenant/keys", {
      name: "CI deploys",
      scopes: ["streams:read"],
      rate_limit: "100/minute",
      expires_in_days: 30,
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const made = (await response.json()) as NewKey;
    expect(made).toMatchObject({
      id: expect.stringMatching(/^tk-[0-9a-f]{16}$/),
      key: expect.stringMatching(KEY),
      name: "CI deploys",
      scopes: ["streams:read"],
      rate_limit: "100/minute",
      state: "active",
      last_used_at: null,
      rolled_from: null,
      revoked_reason: null,
    });
    expect(Date.parse(made.expires_at) - clock.now()).toBeGreaterThan(29.9 * 86_400_000);
    expect(Date.parse(made.expires_at) - clock.now()).toBeLessThanOrEqual(30 * 86_400_000);

    const me = await withKey(fetch, made.key);
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ kind: "api-key", subject: made.id, tenant: TENANT_A });
    const metrics = await fetch("/metrics/overview", {
      headers: { "X-API-Key": made.key, "CF-Connecting-IP": freshIp() },
    });
    expect(metrics.status).toBe(403);

    const keys = await listed(fetch, admin);
    // A key's first use in an isolate is sent to a usage object at once: "last used" is its minute.
    expect(keys.find((key) => key.id === made.id)).toMatchObject({
      name: "CI deploys",
      state: "active",
      last_used_at: new Date(Math.floor(clock.now() / 60_000) * 60_000).toISOString(),
    });
    expect(JSON.stringify(keys)).not.toContain(made.key.slice(-50, -7));
  });

  it("refuses scopes the tenant's plan does not list and a rate limit above its ceiling, and issues nothing", async () => {
    const fetch = isolateApp(testClock());
    const admin = await signedIn(fetch, NARROW_ADMIN);
    const before = (await listed(fetch, admin)).length;
    for (const body of [
      { name: "too wide", scopes: ["metrics:read"] },
      { name: "too fast", scopes: ["streams:read"], rate_limit: "61/minute" },
      { name: "too fast too", scopes: ["streams:read"], rate_limit: "2/second" },
    ]) {
      const refused = await asPage(fetch, admin, "POST", "/tenant/keys", body);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ code: "beyond-tenant-ceiling" });
    }
    expect((await listed(fetch, admin)).length).toBe(before);
    // At the ceiling, in another unit, is within it; without a rate limit a key gets the ceiling.
    expect((await created(fetch, admin, { rate_limit: "1/second" })).rate_limit).toBe("1/second");
    expect((await created(fetch, admin)).rate_limit).toBe("60/minute");
  });

  it.each([
    ["a scope nobody has", { name: "x", scopes: ["keys:manage"] }],
    ["no scope", { name: "x", scopes: [] }],
    ["an expiry past a year", { name: "x", scopes: ["streams:read"], expires_in_days: 367 }],
    ["a name with markup", { name: "<img src=x onerror=alert(1)>", scopes: ["streams:read"] }],
    ["an id of its own choosing", { name: "x", scopes: ["streams:read"], id: "acme-ci-2026" }],
    ["a tenant of its own choosing", { name: "x", scopes: ["streams:read"], tenant: TENANT_B }],
  ])("refuses a key request with %s as a 400 problem", async (_label, body) => {
    const fetch = isolateApp(testClock());
    const refused = await asPage(fetch, await signedIn(fetch, A_ADMIN), "POST", "/tenant/keys", body);
    expect(refused.status).toBe(400);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("tenant key management: who may", () => {
  /** Every route, for a key id of tenant A. */
  const routes = (id: string) =>
    [
      ["GET", "/tenant/keys", undefined],
      ["POST", "/tenant/keys", { name: "sneaky", scopes: ["streams:read"] }],
      ["POST", `/tenant/keys/${id}/roll`, { grace_seconds: 0 }],
      ["POST", `/tenant/keys/${id}/revoke`, undefined],
    ] as const;

  it("lets a tenant admin reach every route, and refuses an analyst, an API key, a bearer token, a missing or wrong CSRF token and a refused origin on each, leaving the key working", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const admin = await signedIn(fetch, A_ADMIN);
    const analyst = await signedIn(fetch, A_ANALYST);
    const target = await created(fetch, admin);
    const adminToken = await issueToken({ sub: A_ADMIN, tenant: TENANT_A, role: "tenant_admin" }, TOKENS, clock.now());
    const other = await signedIn(fetch, A_ADMIN);
    const attempts: [string, Page, Record<string, string | undefined>, number, string][] = [
      ["an analyst", analyst, {}, 403, "insufficient-scope"],
      [
        "an API key",
        { cookie: "", csrf: "" },
        { Cookie: undefined, "X-CSRF-Token": undefined, "X-API-Key": target.key },
        403,
        "session-required",
      ],
      [
        "a tenant admin's bearer token",
        { cookie: "", csrf: "" },
        { Cookie: undefined, "X-CSRF-Token": undefined, Authorization: `Bearer ${adminToken}` },
        403,
        "session-required",
      ],
      ["no CSRF token", admin, { "X-CSRF-Token": undefined }, 403, "csrf-token-invalid"],
      ["another session's CSRF token", admin, { "X-CSRF-Token": other.csrf }, 403, "csrf-token-invalid"],
      ["a look-alike origin", admin, { Origin: "http://localhost:5173.evil.net" }, 403, "origin-not-allowed"],
      [
        "no session at all",
        { cookie: "", csrf: "" },
        { Cookie: undefined, "X-CSRF-Token": undefined },
        401,
        "unauthorized",
      ],
    ];
    for (const [label, page, headers, status, code] of attempts) {
      for (const [method, path, body] of routes(target.id)) {
        const refused = await asPage(fetch, page, method, path, body, headers);
        expect([label, method, path, refused.status]).toEqual([label, method, path, status]);
        expect(await refused.json()).toMatchObject({ code });
      }
    }
    expect((await withKey(fetch, target.key)).status).toBe(200);
    pastListBound(clock);
    expect((await withKey(isolateApp(clock), target.key)).status).toBe(200);
    const keys = await listed(fetch, admin);
    expect(keys.filter((key) => key.name === "sneaky")).toEqual([]);
    expect(keys.find((key) => key.id === target.id)).toMatchObject({ state: "active" });
  });

  it("answers another tenant's key id exactly as an unknown one on every route, and leaves that key working", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const victim = await created(fetch, await signedIn(fetch, A_ADMIN));
    const attacker = await signedIn(fetch, B_ADMIN);
    const unknownId = "tk-0000000000000000";
    for (const [method, path, body] of routes(victim.id).slice(2)) {
      const foreign = await asPage(fetch, attacker, method, path, body);
      const unknown = await asPage(fetch, attacker, method, path.replace(victim.id, unknownId), body);
      expect(foreign.status).toBe(404);
      const strip = (problem: Record<string, unknown>) => ({ ...problem, request_id: undefined, instance: undefined });
      expect(strip((await foreign.json()) as Record<string, unknown>)).toEqual(
        strip((await unknown.json()) as Record<string, unknown>),
      );
    }
    expect((await listed(fetch, attacker)).map((key) => key.id)).not.toContain(victim.id);
    pastListBound(clock);
    expect((await withKey(isolateApp(clock), victim.key)).status).toBe(200);
  });

  it("refuses a tenant admin whose role was taken away at once, though the session still says tenant_admin", async () => {
    const fetch = isolateApp(testClock());
    const page = await signedIn(fetch, A_DEMOTED);
    expect((await asPage(fetch, page, "GET", "/tenant/keys")).status).toBe(200);
    await setRole(A_DEMOTED, "analyst");
    const refused = await asPage(fetch, page, "GET", "/tenant/keys");
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "insufficient-scope" });
  });
});

describe("tenant key management: roll and revoke", () => {
  it("rolls a key: the successor has the same scopes and limit, the old key works during the grace period and is refused everywhere within 60 s after it", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const admin = await signedIn(fetch, A_ADMIN);
    const old = await created(fetch, admin, { scopes: ["metrics:read", "streams:read"], rate_limit: "50/minute" });
    const rolled = await asPage(fetch, admin, "POST", `/tenant/keys/${old.id}/roll`, { grace_seconds: 2 });
    expect(rolled.status).toBe(201);
    const successor = (await rolled.json()) as NewKey;
    expect(successor).toMatchObject({
      key: expect.stringMatching(KEY),
      scopes: ["metrics:read", "streams:read"],
      rate_limit: "50/minute",
      rolled_from: old.id,
      state: "active",
    });
    expect(successor.id).not.toBe(old.id);
    expect((await listed(fetch, admin)).find((key) => key.id === old.id)).toMatchObject({
      state: "rolling",
      refused_from: expect.any(String),
    });
    expect((await withKey(fetch, old.key)).status).toBe(200);
    expect((await withKey(fetch, successor.key)).status).toBe(200);

    // The grace period ends in real time: the object's alarm is what revokes.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await runDurableObjectAlarm(tenantKeys(env.TENANT_KEYS, TENANT_A));
    pastListBound(clock);
    const elsewhere = isolateApp(clock);
    expect((await withKey(elsewhere, old.key)).status).toBe(403);
    expect((await withKey(elsewhere, successor.key)).status).toBe(200);
    expect((await listed(fetch, admin)).find((key) => key.id === old.id)).toMatchObject({
      state: "revoked",
      revoked_reason: "rolled",
    });
  });

  it("rolls with no grace period: the old key is refused at once, and a key is rolled only once", async () => {
    const fetch = isolateApp(testClock());
    const admin = await signedIn(fetch, A_ADMIN);
    const old = await created(fetch, admin);
    expect((await asPage(fetch, admin, "POST", `/tenant/keys/${old.id}/roll`, { grace_seconds: 0 })).status).toBe(201);
    expect((await withKey(fetch, old.key)).status).toBe(403);
    const again = await asPage(fetch, admin, "POST", `/tenant/keys/${old.id}/roll`, { grace_seconds: 0 });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: "key-not-active" });
    for (const grace of [-1, 86_401, 1.5]) {
      const refused = await asPage(fetch, admin, "POST", `/tenant/keys/${old.id}/roll`, { grace_seconds: grace });
      expect(refused.status).toBe(400);
    }
  });

  it("lets two concurrent rolls of one key make one successor", async () => {
    const fetch = isolateApp(testClock());
    const admin = await signedIn(fetch, A_ADMIN);
    const old = await created(fetch, admin);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        asPage(fetch, admin, "POST", `/tenant/keys/${old.id}/roll`, { grace_seconds: 60 }),
      ),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409, 409, 409, 409]);
    expect((await listed(fetch, admin)).filter((key) => key.rolled_from === old.id)).toHaveLength(1);
  });

  it("revokes a key: refused at once here and everywhere within 60 s, with who revoked it", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const elsewhere = isolateApp(clock);
    const admin = await signedIn(fetch, A_ADMIN);
    const key = await created(fetch, admin);
    expect((await withKey(elsewhere, key.key)).status).toBe(200);
    const revoked = await asPage(fetch, admin, "POST", `/tenant/keys/${key.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({
      id: key.id,
      state: "revoked",
      revoked_reason: `revoked by ${A_ADMIN}`,
    });
    expect((await withKey(fetch, key.key)).status).toBe(403);
    pastListBound(clock);
    expect((await withKey(elsewhere, key.key)).status).toBe(403);
  });
});

describe("tenant key management: keys an operator issued", () => {
  /** A key issued with POST /admin/keys (what `npm run key:new` calls), and its id. */
  async function operatorKey(fetch: IsolateFetch, tenant: string): Promise<{ id: string; key: string }> {
    const id = uniqueName("tkeys-op");
    return { id, key: await issueKey(fetch, { id, tenant, scopes: ["metrics:read", "streams:read"] }) };
  }

  it("lists the tenant's operator keys, marked as issued by the operator, and never another tenant's", async () => {
    const fetch = isolateApp(testClock());
    const ours = await operatorKey(fetch, TENANT_A);
    const theirs = await operatorKey(fetch, TENANT_B);
    const own = await created(fetch, await signedIn(fetch, A_ADMIN));
    const keys = await listed(fetch, await signedIn(fetch, A_ADMIN));
    expect(keys.find((key) => key.id === ours.id)).toEqual(
      expect.objectContaining({
        id: ours.id,
        name: ours.id,
        scopes: ["metrics:read", "streams:read"],
        rate_limit: null,
        expires_at: null,
        state: "active",
        issued_by: "operator",
      }),
    );
    expect(keys.find((key) => key.id === own.id)).toMatchObject({ issued_by: "tenant" });
    expect(keys.map((key) => key.id)).not.toContain(theirs.id);
  });

  it("lets a tenant admin revoke an operator's key, refused at once here and everywhere within 60 s, but not roll it", async () => {
    // An hour ahead of the other tests' clocks: the data center's cache of revocation pages
    // (colo-cache.ts) is shared by every test, and a page an earlier test cached at its own moved
    // clock would otherwise look fresh here and hide this revocation from the second isolate.
    const clock = testClock(Date.now() + 3_600_000);
    const fetch = isolateApp(clock);
    const elsewhere = isolateApp(clock);
    const admin = await signedIn(fetch, A_ADMIN);
    const { id, key } = await operatorKey(fetch, TENANT_A);
    expect((await withKey(elsewhere, key)).status).toBe(200);

    const roll = await asPage(fetch, admin, "POST", `/tenant/keys/${id}/roll`, { grace_seconds: 0 });
    expect(roll.status).toBe(409);
    expect(await roll.json()).toMatchObject({ code: "operator-key" });
    expect((await withKey(fetch, key)).status).toBe(200);

    const revoked = await asPage(fetch, admin, "POST", `/tenant/keys/${id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({
      id,
      state: "revoked",
      revoked_reason: `revoked by ${A_ADMIN}`,
      issued_by: "operator",
    });
    expect((await withKey(fetch, key)).status).toBe(403);
    pastListBound(clock);
    expect((await withKey(elsewhere, key)).status).toBe(403);
    expect((await listed(fetch, admin)).find((listedKey) => listedKey.id === id)).toMatchObject({ state: "revoked" });
  });

  it("shows an operator's key that the operator revoked as revoked", async () => {
    const fetch = isolateApp(testClock());
    const { id } = await operatorKey(fetch, TENANT_A);
    expect((await adminRequest(fetch, "POST", "/admin/revocations", { kind: "key", subject: id })).status).toBe(201);
    const keys = await listed(fetch, await signedIn(fetch, A_ADMIN));
    expect(keys.find((key) => key.id === id)).toMatchObject({ state: "revoked", issued_by: "operator" });
  });

  it("answers another tenant's operator key id exactly as an unknown one on roll and revoke, and leaves that key working", async () => {
    const clock = testClock();
    const fetch = isolateApp(clock);
    const victim = await operatorKey(fetch, TENANT_A);
    const attacker = await signedIn(fetch, B_ADMIN);
    const neverIssued = uniqueName("tkeys-none");
    const strip = (problem: Record<string, unknown>) => ({ ...problem, request_id: undefined, instance: undefined });
    for (const action of ["roll", "revoke"]) {
      const body = action === "roll" ? { grace_seconds: 0 } : undefined;
      const foreign = await asPage(fetch, attacker, "POST", `/tenant/keys/${victim.id}/${action}`, body);
      const unknown = await asPage(fetch, attacker, "POST", `/tenant/keys/${neverIssued}/${action}`, body);
      expect(foreign.status).toBe(404);
      expect(strip((await foreign.json()) as Record<string, unknown>)).toEqual(
        strip((await unknown.json()) as Record<string, unknown>),
      );
    }
    expect((await withKey(fetch, victim.key)).status).toBe(200);
    pastListBound(clock);
    expect((await withKey(isolateApp(clock), victim.key)).status).toBe(200);
  });
});

describe("tenant key management: audit", () => {
  afterEach(() => vi.restoreAllMocks());

  it("audits create, roll, revoke and refusals by tenant and key id, never writing a key", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "info").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const fetch = isolateApp(testClock());
    const admin = await signedIn(fetch, A_ADMIN);
    const made = await created(fetch, admin);
    const rolled = (await (
      await asPage(fetch, admin, "POST", `/tenant/keys/${made.id}/roll`, { grace_seconds: 0 })
    ).json()) as NewKey;
    await asPage(fetch, admin, "POST", `/tenant/keys/${rolled.id}/revoke`);
    await asPage(fetch, await signedIn(fetch, A_ANALYST), "GET", "/tenant/keys");
    const events = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.event === "audit");
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: "tenant.keys.create",
          outcome: "success",
          subject: `${TENANT_A}/${made.id}`,
        }),
        expect.objectContaining({ action: "tenant.keys.roll", outcome: "success", subject: `${TENANT_A}/${made.id}` }),
        expect.objectContaining({
          action: "tenant.keys.revoke",
          outcome: "success",
          subject: `${TENANT_A}/${rolled.id}`,
        }),
        expect.objectContaining({ action: "tenant.keys.access", outcome: "refused", reason: "not-tenant-admin" }),
      ]),
    );
    for (const secret of [made.key, rolled.key]) expect(lines.join("\n")).not.toContain(secret.slice(-50, -7));
  });
});
