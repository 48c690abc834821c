/**
 * The one log line for a limiter object that failed to answer (timeout, throw, overload, reset):
 * operators alert on this event whichever limiter it was, so every limiter writes it the same way.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import type { FailMode } from "./policy.ts";

export function logLimiterUnavailable(
  c: Context<AppEnv>,
  policyName: string,
  failMode: FailMode,
  error: unknown,
): void {
  console.error(
    JSON.stringify({
      level: "error",
      event: "rate_limiter_unavailable",
      policy: policyName,
      fail_mode: failMode,
      reason: error instanceof Error ? error.message : "error",
      request_id: c.get("requestId"),
    }),
  );
}
