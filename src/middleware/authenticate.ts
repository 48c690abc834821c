/**
 * Authentication for API routes (OWASP ASVS V6/V9): either `Authorization: Bearer <token>` (a user
 * who logged in) or `X-API-Key` (a machine client). No credential → 401 with `WWW-Authenticate`;
 * a bad token → 401 (`error="invalid_token"`, RFC 6750); a wrong API key → 403, as the seed does;
 * both at once → 400, so no request is judged by the weaker of two credentials. Credentials are
 * never logged.
 */
import type { MiddlewareHandler } from "hono";
import { matchApiKey, type ApiKeyEntry } from "../auth/api-keys.ts";
import type { Principal } from "../auth/principal.ts";
import { verifyToken, type TokenSettings } from "../auth/tokens.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface AuthenticateOptions {
  apiKeys: readonly ApiKeyEntry[];
  tokens: TokenSettings;
  /** Realm named in WWW-Authenticate. Default `streamforge`. */
  realm?: string;
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

/**
 * @example app.use("/metrics/*", authenticate({ apiKeys: config.API_KEYS, tokens: tokenSettings(config) }))
 */
export function authenticate(options: AuthenticateOptions): MiddlewareHandler<AppEnv> {
  const realm = options.realm ?? "streamforge";
  const challenge = `Bearer realm="${realm}"`;
  const unauthorized = (detail: string, header: string) =>
    new AppError({ status: 401, code: "unauthorized", title: "Authentication required", detail, headers: { "WWW-Authenticate": header } });

  return async function authenticate(c, next) {
    const authorization = c.req.header("authorization");
    const apiKey = c.req.header("x-api-key");
    let principal: Principal;

    if (authorization !== undefined && apiKey !== undefined) {
      throw new AppError({ status: 400, code: "ambiguous-credentials", title: "Ambiguous credentials", detail: "Send either a bearer token or an API key, not both." });
    }
    if (authorization !== undefined) {
      const token = BEARER.exec(authorization)?.[1];
      const claims = token === undefined ? undefined : await verifyToken(token, options.tokens);
      if (claims === undefined) throw unauthorized("The bearer token is invalid or expired.", `${challenge}, error="invalid_token"`);
      principal = { kind: "user", subject: claims.sub, tenant: claims.tenant };
    } else if (apiKey !== undefined) {
      const entry = await matchApiKey(apiKey, options.apiKeys);
      if (entry === undefined) throw new AppError({ status: 403, code: "forbidden", title: "Forbidden", detail: "The API key is not valid." });
      principal = { kind: "api-key", subject: entry.id, tenant: entry.tenant, scopes: entry.scopes, ...(entry.rate_limit === undefined ? {} : { rateLimit: entry.rate_limit }) };
    } else {
      throw unauthorized("Send a bearer token or an X-API-Key header.", challenge);
    }
    c.set("principal", principal);
    await next();
  };
}
