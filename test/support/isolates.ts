/**
 * A multi-isolate world for the limiter: N copies of the real app (`createApp`, the worker's own
 * composition), each with the per-isolate state a real isolate has — its own lease tables, deny
 * cache and flood gate — and its own clock, skewed from the others. All of them share the one
 * `RateLimiter` namespace of the test runtime, through a wrapper that delays every call to the
 * object by a seeded random time, so calls from different isolates arrive out of order. Clients
 * are routed to isolates by seeded patterns. An isolate can be evicted: it is replaced by a fresh
 * copy, and whatever its leases held is lost with it, as in production.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { seededRandom } from "../../scripts/lib/seeded-random.ts";
import { createApp } from "../../src/app.ts";
import { issueToken } from "../../src/auth/tokens.ts";
import { type AppConfig, loadConfig } from "../../src/env.ts";
import type { RateLimiter } from "../../src/rate-limit/durable-object.ts";

type Namespace = DurableObjectNamespace<RateLimiter>;

export interface WorldOptions {
  isolates: number;
  seed: number;
  /** Each isolate's clock is off by a random amount up to this, either way. Default 500. */
  maxSkewMs?: number;
  /** Each call to the object waits a random time up to this before it is sent. Default 15. */
  maxObjectDelayMs?: number;
  /** Configuration overrides, e.g. `{ RATE_LIMIT_API: "1000/hour" }`. */
  vars?: Record<string, string>;
}

export interface World {
  /** One request of client `ip` on isolate `index`; resolves to the status. */
  request(index: number, ip: string): Promise<number>;
  evict(index: number): void;
  /** Calls that reached the object (acquire and release). */
  objectCalls(): number;
  skewsMs: readonly number[];
}

/** Wraps the shared namespace: every call waits its seeded delay, then goes to the real object. */
function delayingNamespace(random: () => number, maxDelayMs: number, onCall: () => void): Namespace {
  const delay = () => new Promise((resolve) => setTimeout(resolve, Math.floor(random() * maxDelayMs)));
  return {
    idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = env.RATE_LIMITER.get(id);
      return {
        acquire: async (...args: Parameters<RateLimiter["acquire"]>) => {
          await delay();
          onCall();
          return stub.acquire(...args);
        },
        release: async (...args: Parameters<RateLimiter["release"]>) => {
          await delay();
          onCall();
          return stub.release(...args);
        },
      };
    },
  } as unknown as Namespace;
}

export function createWorld(options: WorldOptions): World {
  const random = seededRandom(options.seed);
  const maxSkewMs = options.maxSkewMs ?? 500;
  // The per-principal limit stays out of the way: these worlds measure the per-IP one.
  const loaded = loadConfig({ ...env, RATE_LIMIT_PRINCIPAL: "100000/minute", ...options.vars });
  if (!loaded.ok) throw new Error(`test configuration is invalid: ${JSON.stringify(loaded.problems)}`);
  let calls = 0;
  const skewsMs = Array.from({ length: options.isolates }, () => Math.round((random() * 2 - 1) * maxSkewMs));
  const namespace = delayingNamespace(random, options.maxObjectDelayMs ?? 15, () => calls++);
  const config: AppConfig = { ...loaded.config, RATE_LIMITER: namespace };
  const build = (index: number) => createApp({ config, clock: () => Date.now() + skewsMs[index]! });
  const apps = skewsMs.map((_, index) => build(index));
  const tokens = {
    signingKey: config.JWT_SIGNING_KEY,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.TOKEN_TTL_SECONDS,
  };
  // A user of its own per client address, so that only the per-IP limit can refuse it.
  const tokenFor = new Map<string, Promise<string>>();

  return {
    skewsMs,
    async request(index, ip) {
      // /auth/me with a valid token: 200 means admitted by the limiter, 429 refused.
      let token = tokenFor.get(ip);
      if (token === undefined) {
        token = issueToken({ sub: `client_${ip.replace(/[^A-Za-z0-9]/g, "_")}`, tenant: "acme" }, tokens);
        tokenFor.set(ip, token);
      }
      const headers = { "CF-Connecting-IP": ip, Authorization: `Bearer ${await token}` };
      // A context as the runtime gives every request: work the app leaves to waitUntil (a copy
      // refreshed in the background when an object is slow) runs on, as in production.
      const response = await apps[index]!.request("/auth/me", { headers }, env, createExecutionContext());
      await response.arrayBuffer();
      return response.status;
    },
    evict(index) {
      apps[index] = build(index);
    },
    objectCalls: () => calls,
  };
}

export type Pattern = "sticky" | "round-robin" | "random" | "touch-then-stick";

/** Which isolate serves the `i`-th request of a client under `pattern`. */
export function router(pattern: Pattern, isolates: number, random: () => number): (i: number) => number {
  switch (pattern) {
    case "sticky":
      return () => 0;
    case "round-robin":
      return (i) => i % isolates;
    case "random":
      return () => Math.floor(random() * isolates);
    case "touch-then-stick":
      return (i) => (i < isolates ? i : 0);
  }
}

/** Sends `requests` requests of one client one after another; returns how many were admitted. */
export async function runSequential(
  world: World,
  ip: string,
  requests: number,
  route: (i: number) => number,
  onRequest?: (i: number) => void,
): Promise<number> {
  let admitted = 0;
  for (let i = 0; i < requests; i++) {
    onRequest?.(i);
    const status = await world.request(route(i), ip);
    if (status === 200) admitted++;
    else if (status !== 429) throw new Error(`unexpected status ${status} for request ${i}`);
  }
  return admitted;
}
