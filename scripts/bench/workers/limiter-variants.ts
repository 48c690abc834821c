/**
 * Stand-ins for the real worker's rate limiter, used only to attribute its CPU cost: built into
 * variants of the project's worker (see BUNDLES in scripts/bench/instances.ts), never deployed.
 * Both are the real `RateLimiter`, so they grant and refuse exactly as it does.
 * - `RateLimiterWithoutStorage`: the Durable Object still answers over RPC, but keeps its windows
 *   in memory only — the difference to the real one is the SQLite write per grant.
 * - `withInIsolateLimiter`: no Durable Object call at all; the namespace is replaced, once per
 *   isolate, by limiter objects in the worker's own memory — the difference is the whole RPC round trip.
 */
import { type PolicyWindow, RateLimiter } from "../../../src/rate-limit/durable-object.ts";

export class RateLimiterWithoutStorage extends RateLimiter {
  protected override store(_policy: string, _window: PolicyWindow): void {}
}

/** Just enough of a Durable Object's state for a limiter that never touches storage. */
const MEMORY_ONLY_STATE = {
  storage: {
    sql: { exec: () => Object.assign([], { toArray: () => [] }) },
    getAlarm: async () => null,
    setAlarm: async () => undefined,
  },
} as unknown as DurableObjectState;

/**
 * The limiter's own code on plain memory. The runtime refuses to construct a Durable Object class
 * outside a namespace, so the instance is made from the prototype with the fields the constructor
 * would set for an object that has no stored windows yet.
 */
function inMemoryLimiter(env: Env): RateLimiterWithoutStorage {
  return Object.assign(Object.create(RateLimiterWithoutStorage.prototype) as RateLimiterWithoutStorage, {
    ctx: MEMORY_ONLY_STATE,
    env,
    windows: new Map(),
    tableExists: true,
    clock: Date.now,
  });
}

/** The part of a Durable Object namespace the limiter middleware uses. */
class InIsolateNamespace {
  private readonly objects = new Map<string, RateLimiterWithoutStorage>();

  constructor(private readonly env: Env) {}

  idFromName(name: string): string {
    return name;
  }

  get(id: string) {
    let object = this.objects.get(id);
    if (object === undefined) {
      object = inMemoryLimiter(this.env);
      this.objects.set(id, object);
    }
    const limiter = object;
    // Async like an RPC call, so the middleware's await and timeout race run as they do for real.
    return {
      acquire: async (...args: Parameters<RateLimiter["acquire"]>) => limiter.acquire(...args),
      release: async (...args: Parameters<RateLimiter["release"]>) => limiter.release(...args),
    };
  }
}

interface FetchWorker<C> {
  fetch(request: Request, env: Env, ctx: C): Response | Promise<Response>;
}

/** `worker` with its RATE_LIMITER binding replaced by an in-isolate namespace, one per env object. */
export function withInIsolateLimiter<C>(worker: FetchWorker<C>): FetchWorker<C> {
  // The worker builds its app once per env object; a new env per request would rebuild it each time.
  const envs = new WeakMap<Env, Env>();
  return {
    fetch(request, env, ctx) {
      let replaced = envs.get(env);
      if (replaced === undefined) {
        replaced = { ...env, RATE_LIMITER: new InIsolateNamespace(env) as unknown as Env["RATE_LIMITER"] };
        envs.set(env, replaced);
      }
      return worker.fetch(request, replaced, ctx);
    },
  };
}

/**
 * The real limiter, counting the calls it serves, for `npm run bench -- --isolates`: the bench
 * reads the count of one client's object to report object calls per admitted request.
 */
export class CountingRateLimiter extends RateLimiter {
  private calls = 0;

  override acquire(...args: Parameters<RateLimiter["acquire"]>) {
    this.calls++;
    return super.acquire(...args);
  }

  override release(...args: Parameters<RateLimiter["release"]>) {
    this.calls++;
    return super.release(...args);
  }

  callCount(): number {
    return this.calls;
  }
}

/** Bench-only route on the counting variant: `GET /__bench/object-calls?name=api:ip:198.19.0.1`. */
export function withObjectCallCount<C>(worker: FetchWorker<C>): FetchWorker<C> {
  return {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      if (url.pathname !== "/__bench/object-calls") return worker.fetch(request, env, ctx);
      const namespace = env.RATE_LIMITER as unknown as DurableObjectNamespace<CountingRateLimiter>;
      const stub = namespace.get(namespace.idFromName(url.searchParams.get("name") ?? ""));
      return Response.json({ calls: await stub.callCount() });
    },
  };
}
