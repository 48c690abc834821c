/**
 * Stand-ins for the real worker's rate limiter, used only to attribute its CPU cost: built into
 * variants of the project's worker (see BUNDLES in scripts/bench/instances.ts), never deployed.
 * Both count with the limiter's own `applyHit`, so they admit and refuse exactly as it does.
 * - `RateLimiterWithoutStorage`: the Durable Object still answers over RPC, but keeps its windows
 *   in memory only — the difference to the real one is the SQLite write per request.
 * - `withInIsolateLimiter`: no Durable Object call at all; the namespace is replaced, once per
 *   isolate, by objects in the worker's own memory — the difference is the whole RPC round trip.
 */
import { DurableObject } from "cloudflare:workers";
import { applyHit, type HitDecision, type WindowState } from "../../../src/rate-limit/window.ts";

type Windows = Map<string, WindowState & { windowMs: number }>;

function hit(windows: Windows, policy: string, limit: number, windowMs: number, nowMs: number): HitDecision {
  const previous = windows.get(policy);
  const { state, decision } = applyHit(previous?.windowMs === windowMs ? previous : undefined, limit, windowMs, nowMs);
  if (decision.allowed) windows.set(policy, { ...state, windowMs });
  return decision;
}

export class RateLimiterWithoutStorage extends DurableObject {
  private readonly windows: Windows = new Map();

  hit(policy: string, limit: number, windowMs: number, nowMs: number): HitDecision {
    return hit(this.windows, policy, limit, windowMs, nowMs);
  }
}

/** The part of a Durable Object namespace the limiter middleware uses. */
class InIsolateNamespace {
  private readonly objects = new Map<string, { hit: (policy: string, limit: number, windowMs: number, nowMs: number) => Promise<HitDecision> }>();

  idFromName(name: string): string {
    return name;
  }

  get(id: string) {
    let object = this.objects.get(id);
    if (object === undefined) {
      const windows: Windows = new Map();
      // Async like an RPC call, so the middleware's await and timeout race run as they do for real.
      object = { hit: async (policy, limit, windowMs, nowMs) => hit(windows, policy, limit, windowMs, nowMs) };
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
