import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { type KeyRegistry, revocationShard } from "../../src/keys/registry.ts";
import { TEST_TOKENS } from "../support/constants.ts";
import {
  adminRequest,
  dashboardSession,
  type IsolateFetch,
  isolateApp,
  issueKey,
  testClock,
  uniqueName,
} from "../support/isolate.ts";

type Namespace = DurableObjectNamespace<KeyRegistry>;

const DASHBOARD = "http://localhost:5173";
const SYNC_BYTES_MAX = 64 * 1024;

let ipCounter = 0;
/** An address of its own per request: only the revocation lists can refuse these requests. */
const freshIp = () => {
  ipCounter++;
  return `10.171.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`;
};

const FAILURES = {
  throws: () => Promise.reject(new Error("Durable Object is overloaded. Too many requests queued.")),
  hangs: () => new Promise<never>(() => {}),
} as const;

/**
 * The suite's registry namespace, except that the object holding `downTenant`'s list fails every
 * call while `down()` says so; records the size of every page any list object answers.
 */
function namespaceWithOneShardDown(downTenant: string, down: () => boolean, how: keyof typeof FAILURES) {
  const downId = revocationShard(env.KEY_REGISTRY, downTenant).id;
  const pageBytes: number[] = [];
  const namespace = {
    idFromName: (name: string) => env.KEY_REGISTRY.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = env.KEY_REGISTRY.get(id);
      return new Proxy(stub, {
        get(target, property) {
          if (property === "revocationsSince" || property === "revoke") {
            return async (...args: unknown[]) => {
              if (id.equals(downId) && down()) return FAILURES[how]();
              const answer = await (target[property] as (...rest: unknown[]) => Promise<unknown>)(...args);
              if (property === "revocationsSince")
                pageBytes.push(new TextEncoder().encode(JSON.stringify(answer)).length);
              return answer;
            };
          }
          return Reflect.get(target, property);
        },
      });
    },
  } as unknown as Namespace;
  return { namespace, pageBytes };
}

const me = (fetch: IsolateFetch, headers: Record<string, string>) =>
  fetch("/auth/me", { headers: { "CF-Connecting-IP": freshIp(), ...headers } });

describe("revocation lists sharded by tenant", () => {
  afterEach(() => vi.restoreAllMocks());

  for (const how of Object.keys(FAILURES) as (keyof typeof FAILURES)[]) {
    it(`tenant A's list object ${how} for 2 minutes: A's credentials get 503, tenant B's key, token and session none`, {
      timeout: 60_000,
    }, async () => {
      vi.spyOn(console, "error").mockImplementation(() => {});
      // The token's issue time is checked against the real time: the test's clock starts now.
      const clock = testClock();
      const [tenantA, tenantB] = [uniqueName("attacked"), uniqueName("bystander")];
      let aDown = false;
      const { namespace, pageBytes } = namespaceWithOneShardDown(tenantA, () => aDown, how);
      const isolate = isolateApp(clock, { KEY_REGISTRY: namespace });

      const keyA = await issueKey(isolate, { id: uniqueName("a-key"), tenant: tenantA });
      const keyB = await issueKey(isolate, { id: uniqueName("b-key"), tenant: tenantB });
      // Tenant B has a list of its own that its isolates must keep honouring.
      const revokedId = uniqueName("b-revoked");
      const revokedB = await issueKey(isolate, { id: revokedId, tenant: tenantB });
      expect(
        (await adminRequest(isolate, "POST", "/admin/revocations", { kind: "key", subject: revokedId })).status,
      ).toBe(201);
      const tokenA = await issueToken({ sub: "a_user", tenant: tenantA }, TEST_TOKENS, clock.now());
      const tokenB = await issueToken({ sub: "b_user", tenant: tenantB }, TEST_TOKENS, clock.now());
      const sessionB = await dashboardSession(isolate, "globex_analyst", {
        Origin: DASHBOARD,
        "CF-Connecting-IP": freshIp(),
      });

      const victim = async (fetch: IsolateFetch) => [
        (await me(fetch, { "X-API-Key": keyB })).status,
        (await me(fetch, { Authorization: `Bearer ${tokenB}` })).status,
        (await me(fetch, { Cookie: sessionB.cookie, "X-CSRF-Token": sessionB.csrf, Origin: DASHBOARD })).status,
        (await me(fetch, { "X-API-Key": revokedB })).status,
      ];
      const attacked = async (fetch: IsolateFetch) => [
        (await me(fetch, { "X-API-Key": keyA })).status,
        (await me(fetch, { Authorization: `Bearer ${tokenA}` })).status,
      ];
      expect(await attacked(isolate)).toEqual([200, 200]);
      expect(await victim(isolate)).toEqual([200, 200, 200, 403]);

      aDown = true;
      const victimAnswers: number[] = [];
      const attackerAnswers: number[] = [];
      // Past the copies' 45 s bound and on for two minutes, on this isolate and on one that starts cold.
      const cold = isolateApp(clock, { KEY_REGISTRY: namespace });
      for (let second = 0; second <= 120; second += 15) {
        victimAnswers.push(...(await victim(isolate)), ...(await victim(cold)));
        if (second === 60 || second === 120) attackerAnswers.push(...(await attacked(isolate)));
        clock.advance(15_000);
      }
      attackerAnswers.push(...(await attacked(cold)));
      expect(victimAnswers.filter((status) => status === 503)).toEqual([]);
      expect(victimAnswers).toEqual(
        Array(victimAnswers.length / 4)
          .fill([200, 200, 200, 403])
          .flat(),
      );
      expect(attackerAnswers).toEqual(Array(attackerAnswers.length).fill(503));
      expect(Math.max(...pageBytes)).toBeLessThanOrEqual(SYNC_BYTES_MAX);

      // Back up: A is served again once its object answers.
      aDown = false;
      expect(await attacked(isolate)).toEqual([200, 200]);
    });
  }
});
