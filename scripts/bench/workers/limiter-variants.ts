/**
 * Stand-ins for the real worker's rate limiter, used only to attribute its CPU cost: built into
 * variants of the project's worker (see BUNDLES in scripts/bench/instances.ts), never deployed.
 * Both count with the limiter's own `applyGrant`, so they grant and refuse exactly as it does.
 * - `RateLimiterWithoutStorage`: the Durable Object still answers over RPC, but keeps its windows
 *   in memory only — the difference to the real one is the SQLite write per grant.
 * - `withInIsolateLimiter`: no Durable Object call at all; the namespace is replaced, once per
 *   isolate, by objects in the worker's own memory — the difference is the whole RPC round trip.
 */
import { DurableObject } from "cloudflare:workers";
import { applyGrant, type Grant, type WindowState } from "../../../src/rate-limit/window.ts";

type Windows = Map<string, WindowState & { windowMs: number }>;

function acquire(windows: Windows, policy: string, limit: number, windowMs: number, nowMs: number, wanted: number): Grant {
  const previous = windows.get(policy);
  const { state, grant } = applyGrant(previous?.windowMs === windowMs ? previous : undefined, limit, windowMs, nowMs, wanted);
  if (grant.granted > 0) windows.set(policy, { ...state, windowMs });
  return grant;
}

export class RateLimiterWithoutStorage extends DurableObject {
  private readonly windows: Windows = new Map();

  acquire(policy: string, limit: number, windowMs: number, nowMs: number, wanted: number): Grant {
    return acquire(this.windows, policy, limit, windowMs, nowMs, wanted);
  }
}

/** The part of a Durable Object namespace the limiter middleware uses. */
class InIsolateNamespace {
  private readonly objects = new Map<string, { acquire: (policy: string, limit: number, windowMs: number, nowMs: number, wanted: number) => Promise<Grant> }>();

  idFromName(name: string): string {
    return name;
  }

  get(id: string) {
    let object = this.objects.get(id);
    if (object === undefined) {
      const windows: Windows = new Map();
      // Async like an RPC call, so the middleware's await and timeout race run as they do for real.
      object = { acquire: async (policy, limit, windowMs, nowMs, wanted) => acquire(windows, policy, limit, windowMs, nowMs, wanted) };
      this.objects.set(id, object);
    }
    return object;
  }
}

interface FetchWorker<E extends object, C> {
  fetch(request: Request, env: E, ctx: C): Response | Promise<Response>;
}

/** `worker` with its RATE_LIMITER binding replaced by an in-isolate namespace, one per env object. */
export function withInIsolateLimiter<E extends object, C>(worker: FetchWorker<E, C>): FetchWorker<E, C> {
  // The worker builds its app once per env object; a new env per request would rebuild it each time.
  const envs = new WeakMap<E, E>();
  return {
    fetch(request, env, ctx) {
      let replaced = envs.get(env);
      if (replaced === undefined) {
        replaced = { ...env, RATE_LIMITER: new InIsolateNamespace() };
        envs.set(env, replaced);
      }
      return worker.fetch(request, replaced, ctx);
    },
  };
}
