import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { keyRegistry, revocationShard } from "../../src/keys/registry.ts";
import { TEST_ADMIN_SECRET, TEST_API_KEYS, TEST_SIGNING_SECRETS, TEST_TOKENS } from "../support/constants.ts";
import {
  adminRequest,
  dashboardSession,
  type IsolateFetch,
  isolateApp,
  issueKey,
  testClock,
  uniqueName,
} from "../support/isolate.ts";

const ALLOWED_ORIGIN = "https://app.streamforge.test";

/** Every console line the worker writes during the test, as text. */
function capturedLog(): () => string {
  const lines: string[] = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  }
  return () => lines.join("\n");
}

const auditLines = (log: string) =>
  log
    .split("\n")
    .filter((line) => line.includes('"event":"audit"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe("admin routes", () => {
  afterEach(() => vi.restoreAllMocks());

  it("refuse a request without the admin credential, or with a wrong one, with 401 and audit it", async () => {
    const log = capturedLog();
    const isolate = isolateApp(testClock());
    const missing = await isolate("/admin/keys", { headers: { "CF-Connecting-IP": "10.64.0.1" } });
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe('AdminKey realm="streamforge-admin"');
    expect(await missing.json()).toMatchObject({ status: 401, code: "unauthorized" });
    const wrong = await isolate("/admin/keys", {
      headers: { "CF-Connecting-IP": "10.64.0.1", "X-Admin-Key": `${TEST_ADMIN_SECRET}x` },
    });
    expect(wrong.status).toBe(401);
    expect(auditLines(log())).toEqual([
      expect.objectContaining({
        level: "info",
        action: "admin.access",
        outcome: "refused",
        reason: "missing",
        client_ip: "10.64.0.1",
      }),
      expect.objectContaining({ action: "admin.access", outcome: "refused", reason: "wrong-credential" }),
    ]);
  });

  it("refuse an API key or a user token with 403, even next to the admin credential", async () => {
    const isolate = isolateApp(testClock());
    const token = await issueToken({ sub: "acme_analyst", tenant: "acme" }, TEST_TOKENS);
    const credentials: Record<string, string>[] = [
      { "X-API-Key": TEST_API_KEYS.acmeCurrent.key },
      { Authorization: `Bearer ${token}` },
      { Authorization: `Bearer ${token}`, "X-Admin-Key": TEST_ADMIN_SECRET },
      { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "X-Admin-Key": TEST_ADMIN_SECRET },
    ];
    for (const headers of credentials) {
      const response = await isolate("/admin/keys", { headers: { "CF-Connecting-IP": "10.64.0.2", ...headers } });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({
        code: "forbidden",
        detail: "Admin routes take only the admin credential.",
      });
    }
  });

  it("never answer CORS: a preflight from an allowed origin gets no CORS header, nor does an admin answer", async () => {
    const isolate = isolateApp(testClock());
    for (const path of ["/admin/keys", "/admin/revocations", "/admin/anything"]) {
      const preflight = await isolate(path, {
        method: "OPTIONS",
        headers: {
          Origin: ALLOWED_ORIGIN,
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "x-admin-key, content-type",
          "CF-Connecting-IP": "10.64.0.3",
        },
      });
      expect(preflight.status).toBe(401);
      expect([...preflight.headers.keys()].filter((name) => name.startsWith("access-control-"))).toEqual([]);
    }
    const answer = await isolate("/admin/keys", {
      headers: { Origin: ALLOWED_ORIGIN, "X-Admin-Key": TEST_ADMIN_SECRET, "CF-Connecting-IP": "10.64.0.3" },
    });
    expect(answer.status).toBe(200);
    expect([...answer.headers.keys()].filter((name) => name.startsWith("access-control-"))).toEqual([]);
    // The same origin's preflight to a client route is answered: the allowlist itself works.
    const clientPreflight = await isolate("/auth/me", {
      method: "OPTIONS",
      headers: { Origin: ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET" },
    });
    expect(clientPreflight.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
  });

  it("are rate-limited per client address, before the credential is even checked", async () => {
    const isolate = isolateApp(testClock(), { RATE_LIMIT_ADMIN: "3/minute" });
    const guess = (secret: string) =>
      isolate("/admin/keys", { headers: { "X-Admin-Key": secret, "CF-Connecting-IP": "10.64.0.4" } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await guess(`guess-${i}-${"x".repeat(32)}`)).status);
    statuses.push((await guess(TEST_ADMIN_SECRET)).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });

  it("issue a signed key once per id, audit it, and the key works for its tenant", async () => {
    const log = capturedLog();
    const clock = testClock();
    const isolate = isolateApp(clock);
    const id = uniqueName("issued");
    const response = await adminRequest(isolate, "POST", "/admin/keys", {
      id,
      tenant: "globex",
      scopes: ["metrics:read"],
      rate_limit: "100/minute",
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      id,
      tenant: "globex",
      scopes: ["metrics:read"],
      rate_limit: "100/minute",
      kid: "t2",
      created_at: new Date(Math.floor(clock.now() / 1000) * 1000).toISOString(),
    });
    const me = await isolate("/auth/me", { headers: { "X-API-Key": body.key as string } });
    expect(await me.json()).toEqual({ kind: "api-key", subject: id, tenant: "globex" });

    expect(
      (await adminRequest(isolate, "POST", "/admin/keys", { id, tenant: "acme", scopes: ["metrics:read"] })).status,
    ).toBe(409);
    expect(
      (
        await adminRequest(isolate, "POST", "/admin/keys", {
          id: TEST_API_KEYS.acmeCurrent.id,
          tenant: "acme",
          scopes: ["metrics:read"],
        })
      ).status,
    ).toBe(409);
    expect(auditLines(log())).toContainEqual(
      expect.objectContaining({ action: "admin.keys.issue", outcome: "success", subject: id }),
    );
  });

  it.each([
    ["an unknown scope", { scopes: ["admin:write"] }],
    ["no scope", { scopes: [] }],
    ["a bad rate limit", { rate_limit: "lots" }],
    ["an unknown field", { key: "sfk2.chosen.by.me" }],
    ["a bad tenant", { tenant: "Acme Corp" }],
  ])("refuse to issue a key with %s", async (_label, change) => {
    const isolate = isolateApp(testClock());
    const response = await adminRequest(isolate, "POST", "/admin/keys", {
      id: uniqueName("bad"),
      tenant: "acme",
      scopes: ["metrics:read"],
      ...change,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "validation-failed" });
  });

  it("refuse to revoke an id that was never issued, and revoke a legacy key by id", async () => {
    const isolate = isolateApp(testClock());
    expect(
      (await adminRequest(isolate, "POST", "/admin/revocations", { kind: "key", subject: uniqueName("never") })).status,
    ).toBe(404);
    expect(
      (await adminRequest(isolate, "POST", "/admin/revocations", { kind: "key", subject: "Not An Id" })).status,
    ).toBe(400);
    // A legacy key of its own, so revoking it touches no other test.
    const legacy = isolateApp(testClock(), {
      API_KEYS: JSON.stringify([
        {
          id: "legacy-revoked",
          digest: await sha256Hex(`sfk_legacy-revoked_${"A".repeat(43)}`),
          tenant: "acme",
          scopes: ["metrics:read"],
        },
      ]),
    });
    const legacyKey = `sfk_legacy-revoked_${"A".repeat(43)}`;
    expect((await legacy("/auth/me", { headers: { "X-API-Key": legacyKey } })).status).toBe(200);
    const legacyRevoked = await adminRequest(legacy, "POST", "/admin/revocations", {
      kind: "key",
      subject: "legacy-revoked",
    });
    expect(legacyRevoked.status).toBe(201);
    // The tenant comes from the key's API_KEYS entry.
    expect(await legacyRevoked.json()).toMatchObject({ kind: "key", subject: "legacy-revoked", tenant: "acme" });
    // A new isolate may read its data center's cached page for up to 10 s (src/keys/colo-cache.ts).
    const fresh = isolateApp(testClock(Date.now() + 10_000), {
      API_KEYS: JSON.stringify([
        { id: "legacy-revoked", digest: await sha256Hex(legacyKey), tenant: "acme", scopes: ["metrics:read"] },
      ]),
    });
    expect((await fresh("/auth/me", { headers: { "X-API-Key": legacyKey } })).status).toBe(403);
    const listing = (await (await adminRequest(fresh, "GET", "/admin/keys")).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(listing.keys.find((key) => key.id === "legacy-revoked")).toMatchObject({
      format: "legacy",
      created_at: null,
      revoked: true,
    });
  });

  it("revoke a key by its id alone into the list of the tenant it was issued to, and no other", async () => {
    const clock = testClock();
    const isolate = isolateApp(clock);
    const [tenant, neighbour] = [uniqueName("owner"), uniqueName("neighbour")];
    const id = uniqueName("by-id");
    const key = await issueKey(isolate, { id, tenant });
    const revoked = await adminRequest(isolate, "POST", "/admin/revocations", { kind: "key", subject: id });
    expect(revoked.status).toBe(201);
    expect(await revoked.json()).toMatchObject({ kind: "key", subject: id, tenant });
    expect((await revocationShard(env.KEY_REGISTRY, tenant).revocationsSince(0)).entries).toMatchObject([
      { kind: "key", subject: id },
    ]);
    expect((await revocationShard(env.KEY_REGISTRY, neighbour).revocationsSince(0)).entries).toEqual([]);
    // Another isolate, past the copies' bound, refuses it: the list it reads for that tenant holds it.
    clock.advance(60_000);
    const refused = await isolateApp(clock)("/auth/me", {
      headers: { "X-API-Key": key, "CF-Connecting-IP": "10.64.1.9" },
    });
    expect(refused.status).toBe(403);
  });

  it("move the single list kept before lists were per tenant into each tenant's list, each entry at its own time", async () => {
    const isolate = isolateApp(testClock());
    const tenant = uniqueName("moved");
    const id = uniqueName("old-revoked");
    const key = await issueKey(isolate, { id, tenant });
    // As the previous version wrote them: into the one list of the global object.
    const global = keyRegistry(env.KEY_REGISTRY);
    await global.revoke("key", id, 1_000);
    await global.revoke("tenant-tokens", tenant, 2_000);
    await global.revoke("user", "initech_analyst", 3_000);
    await global.revoke("user", "nobody_any_more", 4_000);
    const presented = (fetch: IsolateFetch) =>
      fetch("/auth/me", { headers: { "X-API-Key": key, "CF-Connecting-IP": "10.64.3.9" } });
    // Nothing reads the old list: until it is moved, the revoked key works.
    expect((await presented(isolateApp(testClock()))).status).toBe(200);

    const unresolved: unknown[] = [];
    for (let after: number | null = 0; after !== null; ) {
      const page = await adminRequest(isolate, "POST", `/admin/revocations/migrate?after=${after}`);
      expect(page.status).toBe(200);
      const body = (await page.json()) as { moved: number; unresolved: unknown[]; next: number | null };
      unresolved.push(...body.unresolved);
      after = body.next;
    }
    expect((await revocationShard(env.KEY_REGISTRY, tenant).revocationsSince(0)).entries).toMatchObject([
      { kind: "key", subject: id, revokedAtMs: 1_000 },
      { kind: "tenant-tokens", subject: tenant, revokedAtMs: 2_000 },
    ]);
    const initech = await revocationShard(env.KEY_REGISTRY, "initech").revocationsSince(0);
    expect(initech.entries.some((entry) => entry.kind === "user" && entry.subject === "initech_analyst")).toBe(true);
    // A user the database no longer holds has no tenant to go to: named, not dropped silently.
    expect(unresolved).toContainEqual({ kind: "user", subject: "nobody_any_more" });
    // Past the 10 s a data center's cached page serves (src/keys/colo-cache.ts).
    expect((await presented(isolateApp(testClock(Date.now() + 10_000)))).status).toBe(403);
  });

  it("list every key with id, tenant, scopes, created, last used and revoked", async () => {
    const clock = testClock();
    const isolate = isolateApp(clock);
    const tenant = uniqueName("listed");
    const [kept, dropped] = [uniqueName("kept"), uniqueName("dropped")];
    await issueKey(isolate, { id: kept, tenant, scopes: ["streams:read"] });
    await issueKey(isolate, { id: dropped, tenant });
    await adminRequest(isolate, "POST", "/admin/revocations", { kind: "key", subject: dropped });
    const listing = (await (await adminRequest(isolate, "GET", `/admin/keys?tenant=${tenant}`)).json()) as {
      keys: Record<string, unknown>[];
    };
    const created = new Date(Math.floor(clock.now() / 1000) * 1000).toISOString();
    expect(listing.keys).toEqual([
      // Issued in the same second: ordered by id.
      {
        id: dropped,
        tenant,
        scopes: ["metrics:read"],
        rate_limit: null,
        format: "signed",
        kid: "t2",
        created_at: created,
        last_used_at: null,
        retired: false,
        revoked: true,
      },
      {
        id: kept,
        tenant,
        scopes: ["streams:read"],
        rate_limit: null,
        format: "signed",
        kid: "t2",
        created_at: created,
        last_used_at: null,
        retired: false,
        revoked: false,
      },
    ]);
  });

  it("list a key whose signing secret was removed as retired", async () => {
    const tenant = uniqueName("rotated");
    const id = uniqueName("under-t1");
    const beforeRotation = isolateApp(testClock(), {
      API_KEY_SIGNING_SECRETS: JSON.stringify([TEST_SIGNING_SECRETS.previous]),
    });
    const key = await issueKey(beforeRotation, { id, tenant });
    const afterRotation = isolateApp(testClock(), {
      API_KEY_SIGNING_SECRETS: JSON.stringify([TEST_SIGNING_SECRETS.current]),
    });
    expect((await afterRotation("/auth/me", { headers: { "X-API-Key": key } })).status).toBe(403);
    const listing = (await (await adminRequest(afterRotation, "GET", `/admin/keys?tenant=${tenant}`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(listing.keys).toEqual([expect.objectContaining({ id, kid: "t1", retired: true, revoked: false })]);
  });

  it("do not exist without an ADMIN_SECRET", async () => {
    const isolate = isolateApp(testClock(), { ADMIN_SECRET: "" });
    const response = await isolate("/admin/keys", { headers: { "X-Admin-Key": TEST_ADMIN_SECRET } });
    expect(response.status).toBe(404);
  });

  it("never put a key in a log line or an error body; only the one answer that creates it carries it", async () => {
    const log = capturedLog();
    const clock = testClock();
    const isolate = isolateApp(clock);
    const id = uniqueName("secretive");
    const created = await adminRequest(isolate, "POST", "/admin/keys", {
      id,
      tenant: "acme",
      scopes: ["streams:read"],
      rate_limit: "2/minute",
    });
    const key = ((await created.json()) as { key: string }).key;
    const bodies: string[] = [];
    const call = async (path: string, init: RequestInit) => bodies.push(await (await isolate(path, init)).text());
    for (const presented of [key, `${key}x`, key.slice(0, -1), key.replace(".t2.", ".t1.")]) {
      await call("/auth/me", { headers: { "X-API-Key": presented, "CF-Connecting-IP": "10.64.0.5" } });
      await call("/metrics/overview", { headers: { "X-API-Key": presented, "CF-Connecting-IP": "10.64.0.5" } });
    }
    // Over the key's own limit, then revoked: the 429 and the 403 must not carry it either.
    for (let i = 0; i < 3; i++)
      await call("/auth/me", { headers: { "X-API-Key": key, "CF-Connecting-IP": "10.64.0.6" } });
    await adminRequest(isolate, "POST", "/admin/revocations", { kind: "key", subject: id });
    clock.advance(60_000);
    await call("/auth/me", { headers: { "X-API-Key": key, "CF-Connecting-IP": "10.64.0.7" } });
    await call("/admin/keys", { headers: { "X-API-Key": key } });
    bodies.push(await (await adminRequest(isolate, "GET", "/admin/keys")).text());

    const mac = key.slice(-43);
    expect(bodies.length).toBeGreaterThan(10);
    for (const text of [log(), ...bodies]) {
      expect(text).not.toContain(mac);
      expect(text).not.toContain(key.slice(0, -43));
    }
    expect(log()).toContain('"event":"audit"');
  });
});

describe("admin routes for users", () => {
  afterEach(() => vi.restoreAllMocks());

  /** An admin call from an address of its own, any method. */
  let adminIp = 0;
  const admin = (fetch: IsolateFetch, method: string, path: string, body?: unknown) =>
    fetch(path, {
      method,
      headers: {
        "X-Admin-Key": TEST_ADMIN_SECRET,
        "CF-Connecting-IP": `10.65.0.${++adminIp}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("resolve a user as the database spells it for a token revocation, and answer 404 for an unknown user", async () => {
    // Two hours in the past: the revocation refuses only tokens older than any another test issues.
    const isolate = isolateApp(testClock(Date.now() - 7_200_000));
    const revoked = await admin(isolate, "POST", "/admin/revocations", { kind: "user", subject: "INITECH_Analyst" });
    expect(revoked.status).toBe(201);
    // Into the list of the tenant the database has the user in: the one its tokens name.
    expect(await revoked.json()).toMatchObject({ kind: "user", subject: "initech_analyst", tenant: "initech" });
    const initechList = await revocationShard(env.KEY_REGISTRY, "initech").revocationsSince(0);
    expect(initechList.entries.some((entry) => entry.kind === "user" && entry.subject === "initech_analyst")).toBe(
      true,
    );
    const unknown = await admin(isolate, "POST", "/admin/revocations", {
      kind: "user",
      subject: "nobody_by_that_name",
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "unknown-user" });
    // A name that looks like SQL never reaches the query: the pattern refuses it first.
    expect((await admin(isolate, "POST", "/admin/revocations", { kind: "user", subject: "' OR 1=1 --" })).status).toBe(
      400,
    );
  });

  it("audit every refusal, not only the credential's: 400, 404, 409 and 429 each leave a line", async () => {
    const log = capturedLog();
    const isolate = isolateApp(testClock(), { RATE_LIMIT_ADMIN: "4/minute" });
    const asClient = (method: string, path: string, body?: unknown) =>
      isolate(path, {
        method,
        headers: {
          "X-Admin-Key": TEST_ADMIN_SECRET,
          "CF-Connecting-IP": "10.64.0.17",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const statuses = [
      (await asClient("POST", "/admin/revocations", { kind: "user", subject: "' OR 1=1 --" })).status,
      (await asClient("POST", "/admin/revocations", { kind: "user", subject: "nobody_by_that_name" })).status,
      (
        await asClient("POST", "/admin/keys", {
          id: TEST_API_KEYS.acmeCurrent.id,
          tenant: "acme",
          scopes: ["metrics:read"],
        })
      ).status,
      (await asClient("GET", "/admin/users/nobody_by_that_name/sessions")).status,
      (await asClient("GET", "/admin/keys")).status,
    ];
    expect(statuses).toEqual([400, 404, 409, 404, 429]);
    const refusals = auditLines(log()).filter(
      (line) => line.outcome === "refused" && String(line.action).startsWith("admin."),
    );
    expect(refusals.map(({ action, reason }) => ({ action, reason }))).toEqual([
      { action: "admin.revoke", reason: "validation-failed" },
      { action: "admin.revoke", reason: "unknown-user" },
      { action: "admin.keys.issue", reason: "key-id-taken" },
      { action: "admin.sessions.list", reason: "unknown-user" },
      { action: "admin.keys.list", reason: "rate-limited" },
    ]);
    for (const line of refusals)
      expect(line).toMatchObject({ client_ip: "10.64.0.17", request_id: expect.any(String) });
  });

  it("list a user's live sessions and end them all: refused at once here and on a new isolate, and no isolate refreshes them", async () => {
    const clock = testClock();
    const isolate = isolateApp(clock);
    const signIn = (ip: string) => dashboardSession(isolate, "globex_analyst", { "CF-Connecting-IP": ip });
    const sessions = [await signIn("10.64.1.1"), await signIn("10.64.2.1")];
    const listed = await admin(isolate, "GET", "/admin/users/Globex_Analyst/sessions");
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as {
      user: string;
      tenant: string;
      sessions: { family: string; refreshes: number }[];
    };
    expect(body).toMatchObject({ user: "globex_analyst", tenant: "globex" });
    expect(body.sessions.length).toBeGreaterThanOrEqual(2);
    expect(body.sessions.length).toBeLessThanOrEqual(10);

    const ended = await admin(isolate, "DELETE", "/admin/users/globex_analyst/sessions");
    expect(ended.status).toBe(200);
    expect(await ended.json()).toEqual({ user: "globex_analyst", ended: body.sessions.length });
    const use = (fetch: IsolateFetch, path: string, session: { cookie: string; csrf: string }, method = "GET") =>
      fetch(path, {
        method,
        headers: { Cookie: session.cookie, "X-CSRF-Token": session.csrf, "CF-Connecting-IP": "10.64.3.1" },
      });
    for (const session of sessions) {
      expect((await use(isolate, "/auth/me", session)).status).toBe(401);
      expect((await use(isolateApp(clock), "/auth/me", session)).status).toBe(401);
      expect((await use(isolateApp(clock), "/auth/session/refresh", session, "POST")).status).toBe(401);
    }
    expect(
      ((await (await admin(isolate, "GET", "/admin/users/globex_analyst/sessions")).json()) as { sessions: unknown[] })
        .sessions,
    ).toEqual([]);
  });
});

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
