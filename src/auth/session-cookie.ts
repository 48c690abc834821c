/**
 * The dashboard's session cookie as a credential. `__Host-sf-session` is Secure with Path=/ and no
 * Domain (only this exact host ever gets it back), HttpOnly (page script never reads it) and
 * SameSite=Strict (no request started by another site carries it). A request it authenticates
 * must also pass, in this order:
 * - `Origin`, when sent, is in ALLOWED_ORIGINS: SameSite is per site, not per origin, so a page on
 *   a sibling subdomain is same-site and its requests carry the cookie;
 * - the session verifies (src/auth/session-token.ts), its family is live at this generation or a
 *   later one (src/keys/session-states.ts: the isolate's copy of the user's SessionFamilies object),
 *   and the user's or tenant's tokens are not revoked (the original sign-in time is what those
 *   revocations compare);
 * - where asked, `X-CSRF-Token` holds the token bound to the session cookie: a custom header makes any
 *   cross-origin request preflighted (refused origins fail the preflight), and its value is known
 *   only to a page that could read `GET /auth/session`'s answer under CORS.
 * A refresh is decided by the family's owner, never by a copy: `rotate` asks the user's
 * SessionFamilies object, which grants the next generation once and ends the family when an older
 * generation is presented again (src/keys/session-families.ts says why).
 * The cookie value and the CSRF token are credentials: they are never logged.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { audit, auditClient } from "../audit.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { RevocationCache } from "../keys/revocations.ts";
import type { Rotation, SessionFamilies } from "../keys/session-families.ts";
import type { SessionStates } from "../keys/session-states.ts";
import { stateUnavailable, withTimeout } from "../keys/timeout.ts";
import type { UserRole } from "./roles.ts";
import type { Session, SessionTokens } from "./session-token.ts";

const COOKIE_NAME = "sf-session";
const COOKIE_OPTIONS = { prefix: "host", httpOnly: true, sameSite: "Strict" } as const;
export const CSRF_HEADER = "X-CSRF-Token";

/** What the session routes answer: enough for the page, never the cookie. */
export interface SessionView {
  csrfToken: string;
  expiresAt: string;
  principal: { subject: string; tenant: string; role: UserRole };
}

export interface SessionCookieOptions {
  tokens: SessionTokens;
  /** The user's and tenant's token revocations, which end sessions signed in before them. */
  revocations: RevocationCache;
  /** The isolate's copy of each user's live families, for reads. */
  states: SessionStates;
  /** The object that owns a user's families: sign-in, refresh and sign-out ask it. */
  families: (subject: string) => DurableObjectStub<SessionFamilies>;
  /** SESSION_MAX_LIFETIME_SECONDS: when a family ends at the latest. */
  maxLifetimeSeconds: number;
  /** How long a request waits for the user's object. Default 2,000. */
  ownerTimeoutMs?: number;
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
  /** The session cookie's value when the request carries one, valid or not. */
  presentedToken(c: Context<AppEnv>): string | undefined;
  /**
   * The session the cookie stands for; throws the 401 or 403 problem otherwise. `family: false`
   * leaves the family's liveness to the owner (a refresh: `rotate` asks it, so a replay is seen).
   */
  authenticate(c: Context<AppEnv>, options: { csrf: boolean; family?: boolean }): Promise<Session>;
  /** Starts a new family for a sign-in and sets its cookie; throws a 503 problem if the owner cannot record it. */
  start(c: Context<AppEnv>, principal: { subject: string; tenant: string; role: UserRole }): Promise<SessionView>;
  /** The family's next generation as a new cookie; a replayed generation ends the family (401). */
  rotate(c: Context<AppEnv>, session: Session): Promise<SessionView>;
  view(session: Session): Promise<SessionView>;
  /** Ends the session's family everywhere (in this isolate at once); throws a 503 problem if the owner cannot record it. */
  revoke(c: Context<AppEnv>, session: Session): Promise<void>;
  /** Tells the browser to drop the cookie. */
  clear(c: Context<AppEnv>): void;
}

/**
 * @example const sessions = sessionCookie({ tokens, revocations, states, families: (subject) => sessionFamilies(ns, subject), maxLifetimeSeconds: 43200, allowedOrigins, clock })
 */
export function sessionCookie(options: SessionCookieOptions): SessionCookie {
  const { tokens, revocations, states, families, clock } = options;
  const ownerTimeoutMs = options.ownerTimeoutMs ?? 2_000;
  const allowedOrigins = new Set(options.allowedOrigins);
  const challenge = `Bearer realm="${options.realm ?? "streamforge"}"`;
  const refuse = (c: Context<AppEnv>, reason: string, subject?: string) =>
    audit({
      action: "auth.session",
      outcome: "refused",
      reason,
      ...(subject === undefined ? {} : { subject }),
      requestId: c.get("requestId"),
      ...auditClient(c),
    });

  const invalid = () =>
    new AppError({
      status: 401,
      code: "unauthorized",
      title: "Authentication required",
      detail: "The session is invalid, expired or signed out.",
      headers: { "WWW-Authenticate": `${challenge}, error="invalid_token"` },
    });
  /** A call to the user's object, bounded in time; a failure is the 503 problem, logged without the cookie. */
  const ask = async <T>(c: Context<AppEnv>, call: Promise<T>): Promise<T> => {
    try {
      return await withTimeout(call, ownerTimeoutMs);
    } catch (error) {
      throw stateUnavailable({
        event: "session_owner_unavailable",
        code: "session-registry-unavailable",
        detail: "The session cannot be changed right now. Try again shortly.",
        error,
        requestId: c.get("requestId"),
      });
    }
  };
  const setSessionCookie = (c: Context<AppEnv>, token: string, session: Session) =>
    setCookie(c, COOKIE_NAME, token, {
      ...COOKIE_OPTIONS,
      maxAge: Math.max(0, session.expiresAtSeconds - Math.floor(clock() / 1000)),
    });

  const view: SessionCookie["view"] = async (session) => ({
    csrfToken: await tokens.csrfToken(session.id),
    expiresAt: new Date(session.expiresAtSeconds * 1000).toISOString(),
    principal: { subject: session.subject, tenant: session.tenant, role: session.role },
  });

  const checkOrigin: SessionCookie["checkOrigin"] = (c) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && !allowedOrigins.has(origin)) {
      refuse(c, "origin-not-allowed");
      throw new AppError({
        status: 403,
        code: "origin-not-allowed",
        title: "Origin not allowed",
        detail: "Sessions are accepted only from the dashboard's origins.",
      });
    }
  };

  return {
    checkOrigin,
    presentedToken: (c) => getCookie(c, COOKIE_NAME, "host"),

    async authenticate(c, { csrf, family = true }) {
      checkOrigin(c);
      const token = getCookie(c, COOKIE_NAME, "host");
      if (token === undefined) {
        throw new AppError({
          status: 401,
          code: "unauthorized",
          title: "Authentication required",
          detail: "No session: sign in first.",
          headers: { "WWW-Authenticate": challenge },
        });
      }
      const session = await tokens.verify(token, clock());
      let refused = session === undefined ? "invalid" : undefined;
      if (session !== undefined) {
        const waitUntil = (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);
        const revoked = await revocations.current(session.tenant, waitUntil);
        if (
          revoked.tokenRevoked({
            subject: session.subject,
            tenant: session.tenant,
            issuedAtSeconds: session.authTimeSeconds,
          })
        )
          refused = "revoked";
        else if (family && !(await states.accepts(session, waitUntil))) refused = "revoked";
      }
      if (session === undefined || refused !== undefined) {
        refuse(c, refused ?? "invalid", session?.subject);
        throw invalid();
      }
      if (csrf) {
        const presented = c.req.header(CSRF_HEADER);
        if (presented === undefined || !(await tokens.csrfMatches(session.id, presented))) {
          refuse(c, "csrf-token-invalid", session.subject);
          throw new AppError({
            status: 403,
            code: "csrf-token-invalid",
            title: "CSRF token missing or wrong",
            detail: `Send the ${CSRF_HEADER} header that GET /auth/session returns for the session cookie.`,
          });
        }
      }
      return session;
    },

    async start(c, principal) {
      const nowMs = clock();
      const { token, session } = await tokens.issue(principal, nowMs);
      const family = {
        id: session.familyId,
        tenant: session.tenant,
        authTimeSeconds: session.authTimeSeconds,
        endsAtSeconds: session.authTimeSeconds + options.maxLifetimeSeconds,
      };
      // Recorded before the cookie is set: a session its owner does not know would be refused anyway.
      await ask(c, families(session.subject).start(family, Math.floor(nowMs / 1000)));
      states.noteGeneration(session.subject, session.familyId, session.generation);
      setSessionCookie(c, token, session);
      return view(session);
    },

    async rotate(c, current) {
      const nowMs = clock();
      const decide = async (): Promise<Rotation> =>
        families(current.subject).rotate(current.familyId, current.generation, Math.floor(nowMs / 1000));
      const rotation = await ask(c, decide());
      if (rotation.outcome === "superseded") {
        refuse(c, "superseded", current.subject);
        throw invalid();
      }
      if (rotation.outcome !== "rotated") {
        states.noteEnded(current.subject, current.familyId);
        refuse(c, rotation.outcome === "reused" ? "reused" : "revoked", current.subject);
        throw invalid();
      }
      states.noteGeneration(current.subject, current.familyId, rotation.generation);
      const lineage = {
        authTimeSeconds: current.authTimeSeconds,
        familyId: current.familyId,
        generation: rotation.generation,
      };
      const { token, session } = await tokens.issue(
        { subject: current.subject, tenant: current.tenant, role: current.role },
        nowMs,
        lineage,
      );
      setSessionCookie(c, token, session);
      return view(session);
    },

    view,

    async revoke(c, session) {
      await ask(c, families(session.subject).end(session.familyId));
      states.noteEnded(session.subject, session.familyId);
    },

    clear(c) {
      deleteCookie(c, COOKIE_NAME, COOKIE_OPTIONS);
    },
  };
}
