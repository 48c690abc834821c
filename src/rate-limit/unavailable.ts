/**
 * What every limiter does when its object failed to answer (timeout, throw, overload, reset): one
 * log line operators alert on whichever limiter it was, and, where the limiter fails closed, one
 * `503` problem clients retry after.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
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

export function limiterUnavailable(): AppError {
  return new AppError({
    status: 503,
    code: "rate-limiter-unavailable",
    title: "Service temporarily unavailable",
    detail: "The request could not be checked against its rate limit. Try again shortly.",
    headers: { "Retry-After": "5" },
  });
}
