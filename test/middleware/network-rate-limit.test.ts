import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { worker } from "../../src/worker.ts";
import { ORIGIN } from "../support/app.ts";
import { TEST_TOKENS } from "../support/constants.ts";

/** Per /64, /56 and /48 small enough to reach; the per-principal limit out of the way. */
const TIERS = {
  RATE_LIMIT_API: "5/minute",
  RATE_LIMIT_API_IPV6_56: "8/minute",
  RATE_LIMIT_API_IPV6_48: "12/minute",
  RATE_LIMIT_PRINCIPAL: "100000/minute",
};

/**
 * One isolate of the worker with its own configuration (a fresh deny cache and leases); its
 * limiter namespace counts the object calls made for each policy.
 */
function isolate(vars: Record<string, string>) {
  const callsByPolicy = new Map<string, number>();
  const namespace = {
    idFromName: (name: string) => {
      const policy = name.slice(0, name.indexOf(":"));
      callsByPolicy.set(policy, (callsByPolicy.get(policy) ?? 0) + 1);
      return env.RATE_LIMITER.idFromName(name);
    },
    get: (id: DurableObjectId) => env.RATE_LIMITER.get(id),
  };
  const isolateEnv = { ...env, ...vars, RATE_LIMITER: namespace } as unknown as Env;
  const fetch = async (ip: string, credential: Record<string, string>) => {
    const ctx = createExecutionContext();
    const request = new Request(`${ORIGIN}/auth/me`, { headers: { "CF-Connecting-IP": ip, ...credential } });
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, isolateEnv, ctx);
    await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    return response;
  };
  const objectCalls = () => [...callsByPolicy.values()].reduce((sum, calls) => sum + calls, 0);
  return { fetch, objectCalls };
}

/**
 * This file's /48s: in the 3fff::/20 documentation block, which no other file uses, and new on each
 * run, so that windows left in the limiter objects by an earlier run in the same runtime do not count.
 */
const RUN = crypto.getRandomValues(new Uint16Array(1))[0]!.toString(16);
const network48 = (n: number) => `3fff:${(0xb480 + n).toString(16)}:${RUN}`;

/** A user of this file's own, so no other file spends its per-principal allowance. */
const bearer = async (name: string) => ({
  Authorization: `Bearer ${await issueToken({ sub: `${name}-${RUN}`, tenant: "acme" }, TEST_TOKENS)}`,
});

/** The /64 `sixtyFour` of the /56 `fiftySix` of the /48 `prefix` (three hextets), as one address in it. */
const address = (prefix: string, fiftySix: number, sixtyFour = 0) =>
  `${prefix}:${((fiftySix << 8) | sixtyFour).toString(16)}::1`;

describe("read limits per IPv6 network", () => {
  it("gives all the /64s of one /48 together no more than the /48 policy", { timeout: 30_000 }, async () => {
    const { fetch } = isolate(TIERS);
    const credential = await bearer("tiers-reader");
    const statuses: number[] = [];
    // 24 /64s, each in a /56 of its own and far below its own limit: only the /48 can refuse.
    for (let n = 0; n < 24; n++) statuses.push((await fetch(address(network48(1), n), credential)).status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(12);
    const refused = await fetch(address(network48(1), 200), credential);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.headers.get("ratelimit-policy")).toContain('"api-ipv6-48";q=12;w=60');
    // A /64 of another /48 has its own.
    expect((await fetch(address(network48(2), 0), credential)).status).toBe(200);
  });

  it("gives all the /64s of one /56 together no more than the /56 policy", { timeout: 30_000 }, async () => {
    const { fetch } = isolate(TIERS);
    const credential = await bearer("tiers-reader");
    const statuses: number[] = [];
    for (let n = 0; n < 16; n++) statuses.push((await fetch(address(network48(3), 1, n), credential)).status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(8);
    const refused = await fetch(address(network48(3), 1, 100), credential);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("ratelimit-policy")).toContain('"api-ipv6-56";q=8;w=60');
    // Another /56 of the same /48 still gets the /48's remaining permits.
    expect((await fetch(address(network48(3), 2), credential)).status).toBe(200);
  });

  it("a /64 exhausting its own limit costs another /64 of its /56 and /48 nothing", { timeout: 30_000 }, async () => {
    const { fetch } = isolate(TIERS);
    const attacker = address(network48(4), 3, 1);
    const attackerStatuses: number[] = [];
    for (let i = 0; i < 40; i++) attackerStatuses.push((await fetch(attacker, await bearer("tiers-reader"))).status);
    // The attacker's ceiling: its own /64's limit.
    expect(attackerStatuses.filter((status) => status === 200)).toHaveLength(5);

    const victim = await fetch(address(network48(4), 3, 2), await bearer("tiers-neighbour"));
    expect(victim.status).toBe(200);
    // The attacker spent only its 5 admitted requests of the /56 and the /48.
    expect(victim.headers.get("ratelimit")).toContain('"api-ipv6-56";r=2;');
    expect(victim.headers.get("ratelimit")).toContain('"api-ipv6-48";r=6;');
  });

  it("a request refused by the /48 hands back what its /64 and /56 spent", { timeout: 30_000 }, async () => {
    const credential = await bearer("tiers-reader");
    // Another isolate drains the /48 from other /56s: this one has not seen it refused yet.
    const draining = isolate(TIERS);
    for (let n = 10; n < 22; n++) expect((await draining.fetch(address(network48(5), n), credential)).status).toBe(200);

    const refusedHere = await isolate(TIERS).fetch(address(network48(5), 2), credential);
    expect(refusedHere.status).toBe(429);
    expect(refusedHere.headers.get("ratelimit-policy")).toContain('"api-ipv6-48"');

    // With the /48 raised, the same /64 and /56 have their whole allowances but this request.
    const raised = await isolate({ ...TIERS, RATE_LIMIT_API_IPV6_48: "1000/minute" }).fetch(
      address(network48(5), 2),
      credential,
    );
    expect(raised.status).toBe(200);
    expect(raised.headers.get("ratelimit")).toContain('"api";r=4;');
    expect(raised.headers.get("ratelimit")).toContain('"api-ipv6-56";r=7;');
  });

  it("refuses a flood from new /64s of an exhausted /48 without calling a limiter object", {
    timeout: 30_000,
  }, async () => {
    const { fetch, objectCalls } = isolate(TIERS);
    const credential = await bearer("tiers-reader");
    for (let n = 0; n < 13; n++) await fetch(address(network48(6), n), credential);
    const callsBefore = objectCalls();
    for (let n = 100; n < 150; n++) {
      const response = await fetch(address(network48(6), n), credential);
      expect(response.status).toBe(429);
      expect(response.headers.get("ratelimit-policy")).toContain('"api-ipv6-48"');
    }
    expect(objectCalls() - callsBefore).toBe(0);
  });

  it("leaves IPv4 clients to their per-address limit", async () => {
    const { fetch } = isolate(TIERS);
    const response = await fetch(`10.84.0.${Number.parseInt(RUN, 16) % 250}`, await bearer("tiers-reader"));
    expect(response.status).toBe(200);
    expect(response.headers.get("ratelimit-policy")).not.toContain("ipv6");
  });
});
