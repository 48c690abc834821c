/**
 * Per-route scopes (least privilege, OWASP ASVS V8.2): a principal reaches a route only if it holds
 * one of the scopes the route accepts, or gets a 403 problem. An API key holds the scopes its
 * signed claims (or its API_KEYS entry) list; a user holds its role's (src/auth/roles.ts): every
 * user reads, only a tenant admin manages keys, and no API key ever can.
 */
import type { MiddlewareHandler } from "hono";
import type { Principal } from "../auth/principal.ts";
import { roleScopes, SCOPES, type Scope } from "../auth/roles.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface RequireScopeOptions {
  /** Scopes any one of which admits the principal; at least one. */
  anyOf: readonly Scope[];
}

const scopesOf = (principal: Principal): readonly Scope[] =>
  principal.kind === "api-key" ? principal.scopes : roleScopes(principal.role);

/**
 * @example app.use("/metrics/*", requireScope({ anyOf: ["metrics:read"] }))
 */
export function requireScope(options: RequireScopeOptions): MiddlewareHandler<AppEnv> {
  if (options.anyOf.length === 0 || options.anyOf.some((scope) => !SCOPES.includes(scope)))
    throw new Error("requireScope: anyOf must list known scopes");
  const accepted = new Set<string>(options.anyOf);
  const needs = `(one of: ${options.anyOf.join(", ")})`;
  const detail = {
    "api-key": `This API key lacks the scope this route needs ${needs}.`,
    user: `Your role does not grant the scope this route needs ${needs}.`,
  };
  return async function requireScope(c, next) {
    const principal = c.get("principal");
    if (!scopesOf(principal).some((scope) => accepted.has(scope))) {
      throw new AppError({
        status: 403,
        code: "insufficient-scope",
        title: "Forbidden",
        detail: detail[principal.kind],
      });
    }
    await next();
  };
}
