/**
 * Per-route scopes for API keys (least privilege, OWASP ASVS V8.2): a key reaches a route only if
 * its signed claims (or its API_KEYS entry) list one of the scopes the route accepts; otherwise a
 * 403 problem. Users who logged in act with their account's full read rights and pass.
 */
import type { MiddlewareHandler } from "hono";
import { API_KEY_SCOPES, type ApiKeyScope } from "../auth/api-keys.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface RequireScopeOptions {
  /** Scopes any one of which admits the key; at least one. */
  anyOf: readonly ApiKeyScope[];
}

/**
 * @example app.use("/metrics/*", requireScope({ anyOf: ["metrics:read"] }))
 */
export function requireScope(options: RequireScopeOptions): MiddlewareHandler<AppEnv> {
  if (options.anyOf.length === 0 || options.anyOf.some((scope) => !API_KEY_SCOPES.includes(scope)))
    throw new Error("requireScope: anyOf must list known scopes");
  const accepted = new Set<string>(options.anyOf);
  const detail = `This API key lacks the scope this route needs (one of: ${options.anyOf.join(", ")}).`;
  return async function requireScope(c, next) {
    const principal = c.get("principal");
    if (principal.kind === "api-key" && !principal.scopes.some((scope) => accepted.has(scope))) {
      throw new AppError({ status: 403, code: "insufficient-scope", title: "Forbidden", detail });
    }
    await next();
  };
}
