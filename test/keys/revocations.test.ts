import { afterEach, describe, expect, it, vi } from "vitest";
import { seededRandom } from "../../scripts/lib/seeded-random.ts";
import { issueToken } from "../../src/auth/tokens.ts";
import { AppError } from "../../src/errors.ts";
import { type Revocation, type RevocationBatch, RevocationCache } from "../../src/keys/revocations.ts";
import { TEST_TOKENS } from "../support/constants.ts";
import { adminRequest, type IsolateFetch, isolateApp, issueKey, testClock, uniqueName } from "../support/isolate.ts";

const me = (fetch: IsolateFetch, headers: Record<string, string>) =>
  fetch("/auth/me", { headers: { "CF-Connecting-IP": "10.66.0.1", ...headers } });
const withKey = (fetch: IsolateFetch, key: string) => me(fetch, { "X-API-Key": key });
const withToken = (fetch: IsolateFetch, token: string) => me(fetch, { Authorization: `Bearer ${token}` });

describe("revocation cache", () => {
  const entry = (seq: number): Revocation => ({ seq, kind: "key", subject: `key-${seq}`, revokedAtMs: 0 });

  it("catches up on a long list page by page, each page one bounded call", async () => {
    const held = Array.from({ length: 700 }, (_, i) => entry(i + 1));
    const asked: number[] = [];
    const source = async (_tenant: string, afterSeq: number): Promise<RevocationBatch> => {
      asked.push(afterSeq);
      const page = held.filter((revocation) => revocation.seq > afterSeq).slice(0, 300);
      return { seq: page.at(-1)?.seq ?? 700, entries: page, more: afterSeq + page.length < 700 };
    };
    const set = await new RevocationCache({ source, clock: testClock().now }).current("acme", () => {});
    expect(asked).toEqual([0, 300, 600]);
    expect(set.keyRevoked({ id: "key-700", tenant: "acme" })).toBe(true);
  });

  it("fails closed with a 503 when the registry hangs past the call's timeout, instead of hanging the request", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const cache = new RevocationCache({
      source: () => new Promise<RevocationBatch>(() => {}),
      clock: testClock().now,
      timeoutMs: 50,
    });
    const startedMs = Date.now();
    const failure = await cache.current("acme", () => {}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).problem).toMatchObject({ status: 503, code: "revocation-list-unavailable" });
    expect(Date.now() - startedMs).toBeLessThan(1_000);
  });

  it("uses its copy while young, refreshes it in the background, and waits for a fresh one once too old", async () => {
    const clock = testClock(1_000_000);
    const asked: number[] = [];
    let held: Revocation[] = [];
    let answer: Promise<void> = Promise.resolve();
    const source = async (_tenant: string, afterSeq: number): Promise<RevocationBatch> => {
      asked.push(afterSeq);
      await answer;
      return {
        seq: held.at(-1)?.seq ?? 0,
        entries: held.filter((revocation) => revocation.seq > afterSeq),
        more: false,
      };
    };
    const cache = new RevocationCache({
      source,
      clock: clock.now,
      refreshAfterMs: 20_000,
      refreshJitterMs: 0,
      maxAgeMs: 45_000,
    });
    const background: Promise<unknown>[] = [];
    const waitUntil = (promise: Promise<unknown>) => void background.push(promise);
    const revoked = async (id: string) => (await cache.current("acme", waitUntil)).keyRevoked({ id, tenant: "acme" });

    expect(await revoked("key-1")).toBe(false);
    held = [entry(1)];
    clock.advance(19_999);
    expect(await revoked("key-1")).toBe(false);
    expect(asked).toEqual([0]);

    clock.advance(1);
    // Answered from the copy, while the refresh it started has not been answered yet.
    let releaseAnswer = () => {};
    answer = new Promise((resolve) => (releaseAnswer = resolve));
    expect(await revoked("key-1")).toBe(false);
    expect(background).toHaveLength(1);
    releaseAnswer();
    await Promise.all(background);
    expect(await revoked("key-1")).toBe(true);
    expect(asked).toEqual([0, 0]);

    held = [entry(1), entry(2)];
    clock.advance(45_000);
    expect(await revoked("key-2")).toBe(true);
    // Only what is new since the last sync.
    expect(asked).toEqual([0, 0, 1]);
  });

  it("fails closed with a 503 once its copy is too old and the registry cannot be reached", async () => {
    const clock = testClock(1_000_000);
    let reachable = true;
    const cache = new RevocationCache({
      source: async () => {
        if (!reachable) throw new Error("object unreachable");
        return { seq: 0, entries: [], more: false };
      },
      clock: clock.now,
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const noWait = () => {};
    await cache.current("acme", noWait);
    reachable = false;
    clock.advance(30_000);
    await expect(cache.current("acme", noWait)).resolves.toBeDefined();
    clock.advance(15_000);
    const failure = await cache.current("acme", noWait).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).problem).toMatchObject({ status: 503, code: "revocation-list-unavailable" });
  });

  it("refuses a configuration that could serve a list older than 60 s", () => {
    const source = async () => ({ seq: 0, entries: [], more: false });
    expect(() => new RevocationCache({ source, maxAgeMs: 60_001 })).toThrow();
    expect(() => new RevocationCache({ source, refreshAfterMs: 50_000, maxAgeMs: 40_000 })).toThrow();
    expect(() => new RevocationCache({ source, refreshAfterMs: 40_000, refreshJitterMs: 10_000 })).toThrow();
  });
});

describe("revocation copies per tenant", () => {
  afterEach(() => vi.restoreAllMocks());
  const noWait = () => {};
  const emptyList = async (): Promise<RevocationBatch> => ({ seq: 0, entries: [], more: false });

  it("fetches a tenant's list only when one of its credentials is checked, and only from that tenant's source", async () => {
    const asked: string[] = [];
    const cache = new RevocationCache({
      source: async (tenant, afterSeq) => {
        asked.push(`${tenant}@${afterSeq}`);
        return tenant === "acme"
          ? { seq: 1, entries: [{ seq: 1, kind: "key", subject: "acme-leaked", revokedAtMs: 0 }], more: false }
          : emptyList();
      },
      clock: testClock().now,
    });
    expect((await cache.current("acme", noWait)).keyRevoked({ id: "acme-leaked", tenant: "acme" })).toBe(true);
    expect(asked).toEqual(["acme@0"]);
    // Another tenant's copy holds none of acme's entries, even for a key id that collides.
    expect((await cache.current("globex", noWait)).keyRevoked({ id: "acme-leaked", tenant: "globex" })).toBe(false);
    expect(asked).toEqual(["acme@0", "globex@0"]);
  });

  it("an unreachable tenant object refuses only that tenant's credentials after the copy's bound", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const clock = testClock(1_000_000);
    let attackerReachable = true;
    const cache = new RevocationCache({
      source: (tenant) =>
        tenant === "attacker" && !attackerReachable ? new Promise<RevocationBatch>(() => {}) : emptyList(),
      clock: clock.now,
      timeoutMs: 50,
    });
    for (const tenant of ["attacker", "victim"]) await cache.current(tenant, noWait);
    attackerReachable = false;
    clock.advance(45_000);
    const failure = await cache.current("attacker", noWait).catch((error: unknown) => error);
    expect((failure as AppError).problem).toMatchObject({ status: 503, code: "revocation-list-unavailable" });
    for (let i = 0; i < 5; i++) {
      await expect(cache.current("victim", noWait)).resolves.toBeDefined();
      clock.advance(20_000);
    }
  });

  it("keeps at most maxTenants copies however many tenants one isolate serves", async () => {
    const asked: string[] = [];
    const cache = new RevocationCache({
      source: async (tenant) => {
        asked.push(tenant);
        return { seq: 1, entries: [{ seq: 1, kind: "tenant-keys", subject: tenant, revokedAtMs: 0 }], more: false };
      },
      clock: testClock().now,
      maxTenants: 100,
    });
    for (let i = 0; i < 1_000; i++) await cache.current(`tenant-${i}`, noWait);
    expect(cache.entriesHeld()).toBe(100);
    asked.length = 0;
    await cache.current("tenant-999", noWait);
    await cache.current("tenant-900", noWait);
    expect(asked).toEqual([]);
    await cache.current("tenant-0", noWait);
    expect(asked).toEqual(["tenant-0"]);
  });

  it("spreads the refreshes of isolates that synced together over the jitter window, so a tenant's object is not called in step", async () => {
    const clock = testClock(1_000_000);
    const random = seededRandom(17);
    const refreshedAtSecond: number[] = [];
    const isolates = Array.from({ length: 200 }, (_, index) => {
      let synced = 0;
      return new RevocationCache({
        source: async () => {
          if (++synced === 2) refreshedAtSecond[index] = Math.floor((clock.now() - 1_000_000) / 1000);
          return { seq: 0, entries: [], more: false };
        },
        clock: clock.now,
        random,
      });
    });
    // Every isolate serves the tenant every second: each refreshes once its own drawn age is reached.
    for (let second = 0; second < 31; second++) {
      const background: Promise<unknown>[] = [];
      await Promise.all(isolates.map((isolate) => isolate.current("acme", (promise) => void background.push(promise))));
      await Promise.all(background);
      clock.advance(1_000);
    }
    expect(refreshedAtSecond.filter((second) => second !== undefined)).toHaveLength(200);
    expect(Math.min(...refreshedAtSecond)).toBeGreaterThanOrEqual(20);
    // Requests come once a second: an age drawn at 29.4 s is reached at second 30.
    expect(Math.max(...refreshedAtSecond)).toBeLessThanOrEqual(30);
    const perSecond = new Map<number, number>();
    for (const second of refreshedAtSecond) perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    // 200 isolates over 10 s: about 20 a second, never all at once.
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(40);
  });
});

describe("revocation, end to end on two isolates", () => {
  afterEach(() => vi.restoreAllMocks());

  it("refuses a revoked key within 60 s everywhere, including on an isolate that cached it as valid", async () => {
    const clock = testClock();
    const [isolateA, isolateB] = [isolateApp(clock), isolateApp(clock)];
    const id = uniqueName("leaked");
    const key = await issueKey(isolateB, { id, tenant: "acme" });
    expect((await withKey(isolateA, key)).status).toBe(200);

    const revoked = await adminRequest(isolateB, "POST", "/admin/revocations", { kind: "key", subject: id });
    expect(revoked.status).toBe(201);
    // B has not synced yet, so its first look fetches the list.
    expect((await withKey(isolateB, key)).status).toBe(403);

    // A's copy is younger than its refresh age: still valid there, as designed.
    clock.advance(10_000);
    expect((await withKey(isolateA, key)).status).toBe(200);
    clock.advance(50_000);
    const refused = await withKey(isolateA, key);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "forbidden", detail: "The API key is not valid." });
  });

  it("refuses every key of a revoked tenant issued before the revocation, and none after", async () => {
    const clock = testClock();
    const isolate = isolateApp(clock);
    const tenant = uniqueName("tenant");
    const keys = [
      await issueKey(isolate, { id: uniqueName("t-one"), tenant }),
      await issueKey(isolate, { id: uniqueName("t-two"), tenant, scopes: ["streams:read"] }),
    ];
    const bystander = await issueKey(isolate, { id: uniqueName("bystander"), tenant: "acme" });
    for (const key of keys) expect((await withKey(isolate, key)).status).toBe(200);

    clock.advance(1_000);
    expect(
      (await adminRequest(isolate, "POST", "/admin/revocations", { kind: "tenant-keys", subject: tenant })).status,
    ).toBe(201);
    clock.advance(60_000);
    for (const key of keys) expect((await withKey(isolate, key)).status).toBe(403);
    expect((await withKey(isolate, bystander)).status).toBe(200);

    const reissued = await issueKey(isolate, { id: uniqueName("t-three"), tenant });
    expect((await withKey(isolate, reissued)).status).toBe(200);
  });

  it("refuses a user's tokens, or a tenant's, issued before their revocation, within 60 s, without rotating the signing key", async () => {
    // Started in the past: token validity is checked against the real time, and the clock moves a minute on.
    const clock = testClock(Date.now() - 120_000);
    const isolate = isolateApp(clock);
    // A user the database holds (revocations name users as it spells them); only its tokens from
    // before this test's past clock are refused, and no other test issues those.
    const user = "globex_analyst";
    const tenant = uniqueName("tenant");
    const userToken = await issueToken({ sub: user, tenant: "globex" }, TEST_TOKENS, clock.now());
    const tenantToken = await issueToken({ sub: "someone_else", tenant }, TEST_TOKENS, clock.now());
    expect((await withToken(isolate, userToken)).status).toBe(200);
    expect((await withToken(isolate, tenantToken)).status).toBe(200);

    clock.advance(1_000);
    expect((await adminRequest(isolate, "POST", "/admin/revocations", { kind: "user", subject: user })).status).toBe(
      201,
    );
    expect(
      (await adminRequest(isolate, "POST", "/admin/revocations", { kind: "tenant-tokens", subject: tenant })).status,
    ).toBe(201);
    clock.advance(60_000);
    const refused = await withToken(isolate, userToken);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect((await withToken(isolate, tenantToken)).status).toBe(401);

    // A login after the revocation gets a token that works again.
    expect(
      (await withToken(isolate, await issueToken({ sub: user, tenant: "globex" }, TEST_TOKENS, clock.now()))).status,
    ).toBe(200);
    expect(
      (await withToken(isolate, await issueToken({ sub: "acme_analyst", tenant: "acme" }, TEST_TOKENS, clock.now())))
        .status,
    ).toBe(200);
  });
});
