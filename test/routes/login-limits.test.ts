import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { turnsObjectName } from "../../src/auth/username-turns.ts";
import { ratePolicy } from "../../src/rate-limit/policy.ts";
import { worker } from "../../src/worker.ts";
import { ORIGIN } from "../support/app.ts";
import { countingNamespace } from "../support/counting-namespace.ts";

let networkCounter = 0;
/** An IPv4 address in a /24 no other test uses. */
const freshNetworkIp = () => {
  networkCounter++;
  return `10.${200 + Math.floor(networkCounter / 250)}.${networkCounter % 250}.7`;
};

/** Limiter objects asked for by the isolates of this file. */
const limiters = countingNamespace();

/** One isolate of the worker with its own configuration: the same env object means the same app. */
function isolate(vars: Record<string, string> = {}) {
  const isolateEnv = { ...env, RATE_LIMITER: limiters.namespace, ...vars } as unknown as Env;
  return async (body: { username: string; password: string }, init: { ip: string; cookie?: string }) => {
    const ctx = createExecutionContext();
    const headers: Record<string, string> = { "Content-Type": "application/json", "CF-Connecting-IP": init.ip };
    if (init.cookie !== undefined) headers.Cookie = init.cookie;
    const response = await worker.fetch(
      new Request(`${ORIGIN}/auth/login`, { method: "POST", headers, body: JSON.stringify(body) }) as Request<
        unknown,
        IncomingRequestCfProperties
      >,
      isolateEnv,
      ctx,
    );
    await response.arrayBuffer();
    // Refunds and lease returns run after the response, as they do in production.
    await waitOnExecutionContext(ctx);
    return response;
  };
}

/** `name=value` of the device cookie a login response set. */
function deviceCookie(response: Response): string {
  const setCookie = response.headers.get("set-cookie") ?? "";
  expect(setCookie).toMatch(/^__Host-sf-device=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Strict/);
  return setCookie.split(";")[0]!;
}

/**
 * A username lane apart from the default policy's (username-turns.ts keys lanes by policy): failed
 * checks on demo users here must not hold up their sign-ins in other files sharing the runtime.
 */
const LANE_OF_ITS_OWN = { RATE_LIMIT_LOGIN_USERNAME: "20/hour" };

/** Password checks and hundreds of limiter calls: slow on a loaded two-core machine, never timed. */
const SLOW = { timeout: 120_000 };

describe("login limits an attacker cannot turn against a user", () => {
  it("does not count successful logins against the username", SLOW, async () => {
    const login = isolate();
    for (let i = 0; i < 15; i++)
      expect(
        (await login({ username: "globex_analyst", password: DEMO_PASSWORD }, { ip: freshNetworkIp() })).status,
      ).toBe(200);
  });

  it(
    "lets the user's own client in at once while 1,000 failed attempts from 100 networks keep the username's lane shut",
    SLOW,
    async () => {
      const login = isolate(LANE_OF_ITS_OWN);
      const victim = { username: "initech_analyst", password: DEMO_PASSWORD };
      const cookie = deviceCookie(await login(victim, { ip: freshNetworkIp() }));

      const attackers = Array.from({ length: 100 }, freshNetworkIp);
      const statuses: number[] = [];
      for (let round = 0; round < 10; round++) {
        for (let first = 0; first < attackers.length; first += 5) {
          const batch = await Promise.all(
            attackers
              .slice(first, first + 5)
              .map((ip) => login({ username: "initech_analyst", password: `guess-${round}-${ip}` }, { ip })),
          );
          statuses.push(...batch.map((response) => response.status));
        }
      }
      // One check per spacing (3 minutes here): everything else is refused before a password check.
      expect(statuses.filter((status) => status === 401).length).toBe(1);
      expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);

      expect((await login(victim, { ip: freshNetworkIp(), cookie })).status).toBe(200);
      // Without its device cookie, the user waits for the lane to open.
      const waiting = await login(victim, { ip: freshNetworkIp() });
      expect(waiting.status).toBe(429);
      expect(Number(waiting.headers.get("retry-after"))).toBeLessThanOrEqual(180);
    },
  );

  it(
    "keys the username lane as users.username is unique: guesses at ACME_analyst cost acme_analyst nothing",
    SLOW,
    async () => {
      const login = isolate(LANE_OF_ITS_OWN);
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          (await login({ username: "GLOBEX_analyst", password: `guess-password-${i}` }, { ip: freshNetworkIp() }))
            .status,
        );
      // The attacker's ceiling on the name it guesses at: one check, then the lane is shut for a spacing.
      expect(statuses).toEqual([401, 429, 429, 429]);
      expect(
        (await login({ username: "globex_analyst", password: DEMO_PASSWORD }, { ip: freshNetworkIp() })).status,
      ).toBe(200);
    },
  );

  it("treats a forged device cookie, or one issued for another user, as none", SLOW, async () => {
    const login = isolate();
    const other = deviceCookie(
      await login({ username: "acme_analyst", password: DEMO_PASSWORD }, { ip: freshNetworkIp() }),
    );
    const target = "nobody_here";
    // One failed check shuts the username's lane for a spacing.
    await login({ username: target, password: "wrong-password" }, { ip: freshNetworkIp() });
    const [name, value] = other.split("=") as [string, string];
    const forged = `${name}=${encodeURIComponent(`${target}:stolen-device.`)}${value.slice(value.indexOf(".") + 1)}`;
    for (const cookie of [other, forged, `${name}=${target}%3Adevice`]) {
      const refused = await login({ username: target, password: "wrong-password" }, { ip: freshNetworkIp(), cookie });
      expect(refused.status).toBe(429);
      expect(refused.headers.get("ratelimit-policy")).toBe('"login-username";q=10;w=3600');
    }
  });

  it("signs a user without a device cookie in within 6 minutes while 1,000 addresses send 10 wrong passwords a minute for an hour, checking at most 10", {
    timeout: 600_000,
  }, async () => {
    // 10/hour spaced as the default policy is, in a lane of its own; the network tiers lifted, since
    // they count on their objects' real clocks and the hour passes here in seconds.
    const notation = "240/day";
    const login = isolate({
      RATE_LIMIT_LOGIN_USERNAME: notation,
      RATE_LIMIT_LOGIN_IP: "100000/minute",
      RATE_LIMIT_LOGIN_IPV6_56: "100000/minute",
      RATE_LIMIT_LOGIN_IPV6_48: "100000/minute",
      RATE_LIMIT_LOGIN_ISOLATE: "1000/second",
    });
    const username = "globex_analyst";
    const lane = env.SIGN_IN_TURNS.get(
      env.SIGN_IN_TURNS.idFromName(turnsObjectName(ratePolicy("login-username", notation, "closed"), username)),
    );
    const startMs = Date.now();
    let nowMs = startMs;
    await runInDurableObject(lane, (instance) => {
      instance.clock = () => nowMs;
    });
    // 1,000 /64s of one /48: what a tunnel broker gives anyone for free.
    const attacker = (k: number) => `2001:db8:a77a:${(k % 1000).toString(16)}::1`;
    const userArrivesMs = startMs + 30 * 60_000;
    let userNextMs: number | undefined = userArrivesMs;
    let userSignedInMs: number | undefined;
    const attackerStatuses: number[] = [];
    // The hour, and up to 12 minutes more while the user still waits.
    for (let k = 0; k < 600 || (userNextMs !== undefined && k < 720); k++) {
      nowMs = startMs + k * 6000;
      const guess = await login({ username, password: `guess-password-${k}` }, { ip: attacker(k) });
      attackerStatuses.push(guess.status);
      if (userNextMs !== undefined && userNextMs <= nowMs) {
        const attempt = await login({ username, password: DEMO_PASSWORD }, { ip: "203.0.113.9" });
        if (attempt.status === 200) {
          userSignedInMs = nowMs;
          userNextMs = undefined;
        } else {
          expect(attempt.status).toBe(429);
          userNextMs = nowMs + Number(attempt.headers.get("retry-after")) * 1000;
        }
      }
    }
    expect(userSignedInMs).toBeDefined();
    expect(userSignedInMs! - userArrivesMs).toBeLessThanOrEqual(6 * 60_000);
    expect(attackerStatuses.filter((status) => status === 401).length).toBeLessThanOrEqual(10);
    expect(attackerStatuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);
  });

  it("gives 100 addresses in one IPv6 /48 together no more attempts than the /48 policy", SLOW, async () => {
    // A small /48 policy keeps the password checks few; the arithmetic is the same at any size.
    const login = isolate({ RATE_LIMIT_LOGIN_ISOLATE: "1000/second", RATE_LIMIT_LOGIN_IPV6_48: "8/minute" });
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) {
      // Each address in its own /56 (and so its own /64): only the /48 is shared.
      const response = await login(
        { username: `user_${i}`, password: "wrong-password" },
        { ip: `2001:db8:4848:${(i + 1).toString(16)}00::1` },
      );
      statuses.push(response.status);
      if (response.status === 429)
        expect(response.headers.get("ratelimit-policy")).toContain('"login-ipv6-48";q=8;w=60');
    }
    expect(statuses.filter((status) => status === 401).length).toBe(8);
    expect(statuses.filter((status) => status === 429).length).toBe(92);
  });

  it("gives one IPv4 /24 no more attempts than its policy", SLOW, async () => {
    const login = isolate({ RATE_LIMIT_LOGIN_ISOLATE: "1000/second", RATE_LIMIT_LOGIN_IPV4_24: "6/minute" });
    const statuses = [];
    for (let host = 1; host <= 20; host++)
      statuses.push(
        (await login({ username: `v4_user_${host}`, password: "wrong-password" }, { ip: `192.0.2.${host}` })).status,
      );
    expect(statuses.filter((status) => status === 401).length).toBe(6);
  });

  it("caps password checks per isolate and answers 503 with Retry-After beyond the budget", SLOW, async () => {
    const login = isolate({ RATE_LIMIT_LOGIN_ISOLATE: "3/minute" });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await login(
        { username: `budget_user_${i}`, password: "wrong-password" },
        { ip: freshNetworkIp() },
      );
      statuses.push(response.status);
      if (response.status === 503) expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    expect(statuses).toEqual([401, 401, 401, 503, 503]);
  });
});

/** The permits an isolate's limiter object for (`policy`, `key`) counts as spent in its window. */
async function spentPermits(policy: string, key: string): Promise<number> {
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`${policy}:${key}`));
  return runInDurableObject(
    stub,
    (instance) => (instance as unknown as { windows: Map<string, { count: number }> }).windows.get(policy)?.count ?? 0,
  );
}

let probeCounter = 0;
/**
 * `count` failed sign-ins from `ip`, ten at a time, each for a username no other sign-in here
 * uses (one failed check shuts a username's lane); their statuses. Each
 * ten land on an isolate of their own, as an attacker's connections do, so no isolate's memory of a
 * refusal spares the limiter objects.
 */
async function failedSignIns(ip: string, count: number, vars: Record<string, string> = {}): Promise<number[]> {
  const statuses: number[] = [];
  for (let first = 0; first < count; first += 10) {
    const login = isolate(vars);
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, count - first) }, () =>
        login({ username: `tier_probe_${probeCounter++}`, password: "wrong-password" }, { ip }),
      ),
    );
    statuses.push(...batch.map((response) => response.status));
  }
  return statuses;
}

describe("network tiers that cannot drain each other", () => {
  it("lets another address of the /24 sign in at once while one client sends 60 sign-ins a minute", SLOW, async () => {
    const statuses = await failedSignIns("10.199.1.7", 60);
    const login = isolate();
    // The attacker's ceiling is its own limit: 5 password checks, then its own 429s.
    expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(55);
    expect(await spentPermits("login-ipv4-24", "ip:10.199.1.0/24")).toBe(5);
    expect((await login({ username: "acme_analyst", password: DEMO_PASSWORD }, { ip: "10.199.1.77" })).status).toBe(
      200,
    );
  });

  it("lets other /64s of the /56 and /48 sign in at once while one /64 sends 60 sign-ins a minute", SLOW, async () => {
    const statuses = await failedSignIns("2001:db8:5601:100::1", 60);
    const login = isolate();
    expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(55);
    expect(
      (await login({ username: "acme_analyst", password: DEMO_PASSWORD }, { ip: "2001:db8:5601:101::1" })).status,
    ).toBe(200);
    expect(
      (await login({ username: "globex_analyst", password: DEMO_PASSWORD }, { ip: "2001:db8:5601:200::1" })).status,
    ).toBe(200);
  });

  it(
    "refuses every address of a /24 this isolate knows to be exhausted before any of them spends a permit, asking no object",
    SLOW,
    async () => {
      const login = isolate({ RATE_LIMIT_LOGIN_ISOLATE: "1000/second", RATE_LIMIT_LOGIN_IPV4_24: "3/minute" });
      const attempt = (host: number) =>
        login({ username: `v4_known_${host}`, password: "wrong-password" }, { ip: `10.198.3.${host}` });
      for (const host of [1, 2, 3]) expect((await attempt(host)).status).toBe(401);
      // The object says the /24 is exhausted: from here on this isolate knows it.
      expect((await attempt(4)).status).toBe(429);
      const callsBefore = limiters.calls();
      for (let host = 5; host < 25; host++) expect((await attempt(host)).status).toBe(429);
      expect(limiters.calls()).toBe(callsBefore);
    },
  );

  it("hands a client's own permit back when a wider network refuses it", SLOW, async () => {
    const vars = { RATE_LIMIT_LOGIN_IPV4_24: "3/minute" };
    for (const host of [1, 2, 3]) expect(await failedSignIns(`10.199.2.${host}`, 1, vars)).toEqual([401]);
    const login = isolate(vars);
    const victim = await login({ username: "acme_analyst", password: DEMO_PASSWORD }, { ip: "10.199.2.4" });
    expect(victim.status).toBe(429);
    expect(victim.headers.get("ratelimit-policy")).toContain('"login-ipv4-24"');
    expect(await spentPermits("login-ip", "ip:10.199.2.4")).toBe(0);
  });
});
