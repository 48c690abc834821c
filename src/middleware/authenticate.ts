/**
 * Authentication for API routes (OWASP ASVS V6/V9): `Authorization: Bearer <token>` (a user who
 * logged in), `X-API-Key` (a machine client) or the dashboard's session cookie with its CSRF token
 * (src/auth/session-cookie.ts). No credential → 401 with `WWW-Authenticate`; a bad token or
 * session → 401 (`error="invalid_token"`, RFC 6750); a wrong API key → 403, as the seed does; a
 * session without its CSRF token, or from a refused origin → 403; two at once → 400, so no request
 * is judged by the weaker of two credentials. A credential that
 * verifies is then checked against the isolate's copy of its tenant's revocation list (src/keys/
 * revocations.ts; a revoked key → 403, a revoked token → 401), and a key's use is counted for its
 * last-used minute (src/keys/usage.ts); neither costs a lookup per request. Credentials are never
 * logged.
 */
import type { MiddlewareHandler } from "hono";
import { audit, auditClient } from "../audit.ts";
import type { ApiKeyVerifier } from "../auth/api-keys.ts";
import type { Principal } from "../auth/principal.ts";
import type { SessionCookie } from "../auth/session-cookie.ts";
import { type TokenSettings, verifyToken } from "../auth/tokens.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { RevocationCache } from "../keys/revocations.ts";
import type { UsageRecorder } from "../keys/usage.ts";

export interface AuthenticateOptions {
  apiKeys: ApiKeyVerifier;
  tokens: TokenSettings;
  revocations: RevocationCache;
  usage: UsageRecorder;
  /** The dashboard's session cookie as a third credential. Default: not accepted. */
  sessions?: SessionCookie;
  /** Realm named in WWW-Authenticate. Default `streamforge`. */
  realm?: string;
  /** Epoch ms against which a bearer token's times are checked. Default `Date.now`. */
  clock?: () => number;
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

/**
 * @example app.use("/metrics/*", authenticate({ apiKeys: createApiKeyVerifier({ legacyEntries: config.API_KEYS }), tokens, revocations, usage }))
 */

export function authenticate(options: AuthenticateOptions): MiddlewareHandler<AppEnv> {
  const realm = options.realm ?? "streamforge";
  const clock = options.clock ?? Date.now;
  const challenge = `Bearer realm="${realm}"`;
  const unauthorized = (detail: string, header: string) =>
    new AppError({
      status: 401,
      code: "unauthorized",
      title: "Authentication required",
      detail,
      headers: { "WWW-Authenticate": header },
    });

  const forbiddenKey = () =>
    new AppError({ status: 403, code: "forbidden", title: "Forbidden", detail: "The API key is not valid." });

  return async function authenticate(c, next) {
    const waitUntil = (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);
    // The headers read once: each `c.req.header` is two calls into the runtime.
    const headers = c.req.raw.headers;
    const authorization = headers.get("authorization") ?? undefined;
    const apiKey = headers.get("x-api-key") ?? undefined;
    const sessionToken = options.sessions?.presentedToken(c);
    const sessions = sessionToken === undefined ? undefined : options.sessions;
    let principal: Principal;

    if (Number(authorization !== undefined) + Number(apiKey !== undefined) + Number(sessions !== undefined) > 1) {
      throw new AppError({
        status: 400,
        code: "ambiguous-credentials",
        title: "Ambiguous credentials",
        detail: "Send one credential: a bearer token, an API key or a session cookie.",
      });
    }
    if (sessions !== undefined) {
      const { subject, tenant, role } = await sessions.authenticate(c, { csrf: true });
      principal = { kind: "user", subject, tenant, role };
    } else if (authorization !== undefined) {
      const token = BEARER.exec(authorization)?.[1];
      const claims = token === undefined ? undefined : await verifyToken(token, options.tokens, clock());
      if (
        claims === undefined ||
        (await options.revocations.current(claims.tenant, waitUntil)).tokenRevoked({
          subject: claims.sub,
          tenant: claims.tenant,
          issuedAtSeconds: claims.issuedAtSeconds,
        })
      ) {
        audit({
          action: "auth.token",
          outcome: "refused",
          reason: claims === undefined ? "invalid" : "revoked",
          ...(claims === undefined ? {} : { subject: claims.sub }),
          requestId: c.get("requestId"),
          ...auditClient(c),
        });
        throw unauthorized("The bearer token is invalid or expired.", `${challenge}, error="invalid_token"`);
      }
      principal = { kind: "user", subject: claims.sub, tenant: claims.tenant, role: claims.role };
    } else if (apiKey !== undefined) {
      const key = await options.apiKeys.verify(apiKey);
      // A revoked key gets the same answer as a wrong one: the caller learns nothing about which it holds.
      if (key === undefined || (await options.revocations.current(key.tenant, waitUntil)).keyRevoked(key)) {
        // Only the verified id is named: the presented text may be a real key with one character wrong.
        // A value no key of ours could be (a wrong shape, a scannable key's checksum wrong) is noise,
        // as a missing key is: no audit line, so junk costs what no credential costs (the bench's
        // refused-malformed-key against refused-no-key); the invalid-credential bound still counts it.
        if (key !== undefined || options.apiKeys.wellFormed(apiKey))
          audit({
            action: "auth.api_key",
            outcome: "refused",
            reason: key === undefined ? "invalid" : "revoked",
            ...(key === undefined ? {} : { subject: key.id }),
            requestId: c.get("requestId"),
            ...auditClient(c),
          });
        throw forbiddenKey();
      }
      options.usage.record(key.id, waitUntil);
      principal = {
        kind: "api-key",
        subject: key.id,
        tenant: key.tenant,
        scopes: key.scopes,
        ...(key.rateLimit === undefined ? {} : { rateLimit: key.rateLimit }),
      };
    } else {
      throw unauthorized("Send a bearer token or an X-API-Key header.", challenge);
    }
    c.set("principal", principal);
    c.set("credential", authorization ?? apiKey ?? sessionToken);
    await next();
  };
}
