import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { worker } from "../../src/worker.ts";
import { ORIGIN } from "../support/app.ts";
import { TEST_JWT_SIGNING_KEY } from "../support/constants.ts";

const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};

/** One isolate of the worker whose limiter namespace counts the objects it is asked for. */
function countingIsolate() {
  const names = new Set<string>();
  const namespace = {
    idFromName: (name: string) => {
      names.add(name);
      return env.RATE_LIMITER.idFromName(name);
    },
    get: (id: DurableObjectId) => env.RATE_LIMITER.get(id),
  };
  const isolateEnv = { ...env, RATE_LIMITER: namespace } as unknown as Env;
  const fetch = async (path: string, ip: string, headers: Record<string, string> = {}) => {
    const ctx = createExecutionContext();
    const request = new Request(`${ORIGIN}${path}`, { headers: { "CF-Connecting-IP": ip, ...headers } });
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, isolateEnv, ctx);
    await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    return response;
  };
  return { fetch, limiterObjects: () => names.size };
}

describe("requests without a valid credential", () => {
  it("answers 10,000 anonymous or forged requests from 10,000 /64s without creating a limiter object, and still limits a real client", {
    timeout: 120_000,
  }, async () => {
    const { fetch, limiterObjects } = countingIsolate();
    const forged = (await issueToken(
      { sub: "globex_analyst", tenant: "globex" },
      { ...TOKENS, signingKey: "not-the-signing-key-0123456789abcdef" },
    )) as string;
    const paths = ["/auth/me", "/metrics/overview", "/streams"];
    const statuses: Record<string, number> = {};
    for (let first = 0; first < 10_000; first += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const n = first + i;
          const credential: Record<string, string> =
            n % 3 === 0 ? {} : n % 3 === 1 ? { Authorization: `Bearer ${forged}` } : { "X-API-Key": `sfk_forged_${n}` };
          return fetch(paths[n % 3]!, `2001:db8:${(n >> 8).toString(16)}:${(n & 0xff).toString(16)}::1`, credential);
        }),
      );
      for (const response of batch) statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    }
    expect(Object.keys(statuses).every((status) => status === "401" || status === "403")).toBe(true);
    expect(limiterObjects()).toBe(0);

    // The victim, a real client, is still limited as before: by its own /64, its /56 and /48, and as a principal.
    const token = await issueToken({ sub: "globex_analyst", tenant: "globex" }, TOKENS);
    const victim = await fetch("/auth/me", "2001:db8:ffff::1", { Authorization: `Bearer ${token}` });
    expect(victim.status).toBe(200);
    expect(victim.headers.get("ratelimit")).toMatch(
      /^"api";r=99;t=60, "api-ipv6-56";r=\d+;t=\d+, "api-ipv6-48";r=\d+;t=\d+, "principal";r=\d+;t=60$/,
    );
    expect(limiterObjects()).toBe(4);
  });
});
