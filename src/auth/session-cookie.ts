/**
 * The dashboard's session cookie as a credential. `__Host-sf-session` is Secure with Path=/ and no
 * Domain (only this exact host ever gets it back), HttpOnly (page script never reads it) and
 * SameSite=Strict (no request started by another site carries it). A request it authenticates
 * must also pass, in this order:
 * - `Origin`, when sent, is in ALLOWED_ORIGINS: SameSite is per site, not per origin, so a page on
 *   a sibling subdomain is same-site and its requests carry the cookie;
 * - the session verifies (src/auth/session-token.ts) and is not revoked (sign-out, refresh, or the
 *   user's or tenant's tokens: the original sign-in time is what those revocations compare);
 * - where asked, `X-CSRF-Token` holds the token bound to this session: a custom header makes any
 *   cross-origin request preflighted (refused origins fail the preflight), and its value is known
 *   only to a page that could read `GET /auth/session`'s answer under CORS.
 * The cookie value and the CSRF token are credentials: they are never logged.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { audit, auditClient } from "../audit.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { Revocation, RevocationCache } from "../keys/revocations.ts";
import type { Session, SessionTokens } from "./session-token.ts";

const COOKIE_NAME = "sf-session";
const COOKIE_OPTIONS = { prefix: "host", httpOnly: true, sameSite: "Strict" } as const;
export const CSRF_HEADER = "X-CSRF-Token";

/** What the session routes answer: enough for the page, never the cookie. */
export interface SessionView {
  csrfToken: string;
  expiresAt: string;
  principal: { subject: string; tenant: string };
}

export interface SessionCookieOptions {
  tokens: SessionTokens;
  revocations: RevocationCache;
  /** Records one session's revocation in the registry, for every isolate. */
  revoke: (sessionId: string, revokedAtMs: number) => Promise<Revocation>;
  /** The CORS allowlist: the only origins a cookie-authenticated request may come from. */
  allowedOrigins: readonly string[];
  /** Epoch ms. */
  clock: () => number;
  /** Realm named in WWW-Authenticate. Default `streamforge`. */
  realm?: string;
}

export interface SessionCookie {
  /** Throws the 403 problem when the request names an Origin outside the allowlist. */
  checkOrigin(c: Context<AppEnv>): void;
  /** Whether the request carries a session cookie at all (valid or not). */
  presented(c: Context<AppEnv>): boolean;
  /** The session the cookie stands for; throws the 401 or 403 problem otherwise. */
  authenticate(c: Context<AppEnv>, options: { csrf: boolean }): Promise<Session>;
  /** Starts a session (a sign-in, or a refresh continuing `authTimeSeconds`) and sets its cookie. */
  start(c: Context<AppEnv>, principal: { subject: string; tenant: string }, authTimeSeconds?: number): Promise<SessionView>;
  view(session: Session): Promise<SessionView>;
  /** Revokes the session everywhere (in this isolate at once); throws a 503 problem if the registry cannot record it. */
  revoke(c: Context<AppEnv>, session: Session): Promise<void>;
  /** Tells the browser to drop the cookie. */
  clear(c: Context<AppEnv>): void;
}

/**
 * @example const sessions = sessionCookie({ tokens, revocations, revoke: (id, atMs) => registry.revokeSession(id, atMs, retentionMs), allowedOrigins, clock })
 */
export function sessionCookie(options: SessionCookieOptions): SessionCookie {
  const { tokens, revocations, clock } = options;
  const allowedOrigins = new Set(options.allowedOrigins);
  const challenge = `Bearer realm="${options.realm ?? "streamforge"}"`;
  const refuse = (c: Context<AppEnv>, reason: string, subject?: string) =>
    audit({ action: "auth.session", outcome: "refused", reason, ...(subject === undefined ? {} : { subject }), requestId: c.get("requestId"), ...auditClient(c) });

  const view: SessionCookie["view"] = async (session) => ({
    csrfToken: await tokens.csrfToken(session.id),
    expiresAt: new Date(session.expiresAtSeconds * 1000).toISOString(),
    principal: { subject: session.subject, tenant: session.tenant },
  });

  const checkOrigin: SessionCookie["checkOrigin"] = (c) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && !allowedOrigins.has(origin)) {
      refuse(c, "origin-not-allowed");
      throw new AppError({ status: 403, code: "origin-not-allowed", title: "Origin not allowed", detail: "Sessions are accepted only from the dashboard's origins." });
    }
  };

  return {
    checkOrigin,
    presented: (c) => getCookie(c, COOKIE_NAME, "host") !== undefined,

    async authenticate(c, { csrf }) {
      checkOrigin(c);
      const token = getCookie(c, COOKIE_NAME, "host");
      if (token === undefined) {
        throw new AppError({ status: 401, code: "unauthorized", title: "Authentication required", detail: "No session: sign in first.", headers: { "WWW-Authenticate": challenge } });
      }
      const session = await tokens.verify(token, clock());
      let refused = session === undefined ? "invalid" : undefined;
      if (session !== undefined) {
        const revoked = await revocations.current((promise) => c.executionCtx.waitUntil(promise));
        if (revoked.sessionRevoked(session.id) || revoked.tokenRevoked({ subject: session.subject, tenant: session.tenant, issuedAtSeconds: session.authTimeSeconds })) refused = "revoked";
      }
      if (session === undefined || refused !== undefined) {
        refuse(c, refused ?? "invalid", session?.subject);
        throw new AppError({
          status: 401,
          code: "unauthorized",
          title: "Authentication required",
          detail: "The session is invalid, expired or signed out.",
          headers: { "WWW-Authenticate": `${challenge}, error="invalid_token"` },
        });
      }
      if (csrf) {
        const presented = c.req.header(CSRF_HEADER);
        if (presented === undefined || !(await tokens.csrfMatches(session.id, presented))) {
          refuse(c, "csrf-token-invalid", session.subject);
          throw new AppError({ status: 403, code: "csrf-token-invalid", title: "CSRF token missing or wrong", detail: `Send the ${CSRF_HEADER} header that GET /auth/session returns for this session.` });
        }
      }
      return session;
    },

    async start(c, principal, authTimeSeconds) {
      const nowMs = clock();
      const { token, session } = await tokens.issue(principal, nowMs, authTimeSeconds);
      setCookie(c, COOKIE_NAME, token, { ...COOKIE_OPTIONS, maxAge: Math.max(0, session.expiresAtSeconds - Math.floor(nowMs / 1000)) });
      return view(session);
    },

    view,

    async revoke(c, session) {
      let revocation: Revocation;
      try {
        revocation = await options.revoke(session.id, clock());
      } catch (error) {
        console.error(JSON.stringify({ level: "error", event: "session_revocation_failed", reason: error instanceof Error ? error.name : "error", request_id: c.get("requestId") }));
        throw new AppError({
          status: 503,
          code: "session-revocation-unavailable",
          title: "Service temporarily unavailable",
          detail: "The session could not be ended right now. Try again shortly.",
          headers: { "Retry-After": "5" },
        });
      }
      revocations.applyLocally(revocation);
    },

    clear(c) {
      deleteCookie(c, COOKIE_NAME, COOKIE_OPTIONS);
    },
  };
}
