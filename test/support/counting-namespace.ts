import { env } from "cloudflare:test";
import type { RateLimiter } from "../../src/rate-limit/durable-object.ts";

/** The suite's real limiter namespace, counting how often a limiter object is asked for. */
export function countingNamespace(): { namespace: DurableObjectNamespace<RateLimiter>; calls: () => number } {
  let calls = 0;
  const namespace = {
    idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
    get: (id: DurableObjectId) => {
      calls++;
      return env.RATE_LIMITER.get(id);
    },
  } as unknown as DurableObjectNamespace<RateLimiter>;
  return { namespace, calls: () => calls };
}
