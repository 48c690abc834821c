import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { worker } from "../../src/worker.ts";
import { ORIGIN } from "../support/app.ts";
import { TEST_API_KEYS, TEST_JWT_SIGNING_KEY, TEST_SIGNING_SECRETS } from "../support/constants.ts";
import { signSfk2Key } from "../support/sfk2-keys.ts";

const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};

/** One isolate of the worker with its own configuration. */
function isolate(vars: Record<string, string>) {
  const isolateEnv = { ...env, ...vars } as Env;
  return async (path: string, ip: string, headers: Record<string, string>) => {
    const ctx = createExecutionContext();
    const request = new Request(`${ORIGIN}${path}`, { headers: { "CF-Connecting-IP": ip, ...headers } });
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, isolateEnv, ctx);
    await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    return response;
  };
}

/** `perAddress` requests from each of `addresses` /64s of one /48; their statuses. */
async function spread(
  fetch: ReturnType<typeof isolate>,
  headers: Record<string, string>,
  prefix: string,
  addresses: number,
  perAddress: number,
) {
  const statuses: number[] = [];
  for (let address = 0; address < addresses; address++) {
    for (let i = 0; i < perAddress; i++)
      statuses.push((await fetch("/auth/me", `${prefix}:${address.toString(16)}::1`, headers)).status);
  }
  return statuses;
}

describe("per-principal read limit", () => {
  it("gives one user spread over 20 /64s no more than the principal policy, and another user of its tenant in the same /64s their own", {
    timeout: 60_000,
  }, async () => {
    const fetch = isolate({ RATE_LIMIT_PRINCIPAL: "30/minute" });
    const attacker = { Authorization: `Bearer ${await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS)}` };
    const statuses = await spread(fetch, attacker, "2001:db8:7001", 20, 5);
    // Each /64 is far below its own 100/minute: only the principal limit refuses.
    expect(statuses.filter((status) => status === 200)).toHaveLength(30);
    expect(statuses.filter((status) => status === 429)).toHaveLength(70);

    const victim = { Authorization: `Bearer ${await issueToken({ sub: "acme_admin", tenant: "acme" }, TOKENS)}` };
    const admitted = await fetch("/auth/me", "2001:db8:7001:0::1", victim);
    expect(admitted.status).toBe(200);
    expect(admitted.headers.get("ratelimit-policy")).toContain('"principal";q=30;w=60');
  });

  it("reports every limit a request passed, the legacy triple of the tightest, and on a refusal the refusing one's alone", async () => {
    const fetch = isolate({ RATE_LIMIT_PRINCIPAL: "3/minute" });
    const user = { Authorization: `Bearer ${await issueToken({ sub: "fields_reader", tenant: "acme" }, TOKENS)}` };
    const admitted = await fetch("/auth/me", "2001:db8:7004::1", user);
    expect(admitted.status).toBe(200);
    expect(admitted.headers.get("ratelimit-policy")).toBe(
      '"api";q=100;w=60, "api-ipv6-56";q=1000;w=60, "api-ipv6-48";q=3000;w=60, "principal";q=3;w=60',
    );
    const fields = [...(admitted.headers.get("ratelimit") ?? "").matchAll(/"([a-z0-9-]+)";r=(\d+);t=\d+/g)];
    expect(fields.map((field) => field[1])).toEqual(["api", "api-ipv6-56", "api-ipv6-48", "principal"]);
    // The principal's 3/minute is the closest to refusing after its first request.
    expect(fields[3]![2]).toBe("2");
    expect(admitted.headers.get("x-ratelimit-limit")).toBe("3");
    expect(admitted.headers.get("x-ratelimit-remaining")).toBe("2");
    expect(Number(admitted.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);

    for (let i = 0; i < 2; i++) expect((await fetch("/auth/me", "2001:db8:7004::1", user)).status).toBe(200);
    const refused = await fetch("/auth/me", "2001:db8:7004::1", user);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("ratelimit-policy")).toBe('"principal";q=3;w=60');
    expect(refused.headers.get("ratelimit")).toMatch(/^"principal";r=0;t=\d+$/);
    expect(refused.headers.get("x-ratelimit-limit")).toBe("3");
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  it("limits an API key by the principal policy too, and by its own rl on top", { timeout: 60_000 }, async () => {
    const fetch = isolate({ RATE_LIMIT_PRINCIPAL: "12/minute" });
    const statuses = await spread(fetch, { "X-API-Key": TEST_API_KEYS.acmeCurrent.key }, "2001:db8:7002", 4, 5);
    expect(statuses.filter((status) => status === 200)).toHaveLength(12);
    // A key whose own policy is 3/minute gets 3, wherever it calls from.
    const limited = await spread(fetch, { "X-API-Key": TEST_API_KEYS.globexLimited.key }, "2001:db8:7003", 4, 5);
    expect(
      limited.filter((status) => status === 200),
      JSON.stringify(limited),
    ).toHaveLength(3);
  });

  it("leaves a shared address's allowance to its other users while a key sends past its own rl from it", {
    timeout: 60_000,
  }, async () => {
    const fetch = isolate({ RATE_LIMIT_API: "10/minute" });
    const sharedAddress = "198.51.100.77";
    // A key of its own: the key limits of the tests above must not be what refuses here.
    const claims = {
      id: `shared-${crypto.randomUUID()}`,
      tenant: "globex",
      scopes: ["metrics:read"] as const,
      rateLimit: "3/minute",
    };
    const key = await signSfk2Key(claims, Math.floor(Date.now() / 1000), TEST_SIGNING_SECRETS.current);
    const attacker = { "X-API-Key": key };
    const attackerStatuses: number[] = [];
    for (let i = 0; i < 30; i++) attackerStatuses.push((await fetch("/auth/me", sharedAddress, attacker)).status);
    // The key's own 3/minute admits 3; everything after is its own refusal, not the address's.
    expect(
      attackerStatuses.filter((status) => status === 200),
      JSON.stringify(attackerStatuses),
    ).toHaveLength(3);
    expect(attackerStatuses.filter((status) => status === 429)).toHaveLength(27);

    const victim = { Authorization: `Bearer ${await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS)}` };
    const victimStatuses: number[] = [];
    for (let i = 0; i < 7; i++) victimStatuses.push((await fetch("/auth/me", sharedAddress, victim)).status);
    expect(victimStatuses, "the address's 10 less the key's 3 admitted").toEqual(Array(7).fill(200));
  });
});
