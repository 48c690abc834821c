/**
 * The dashboard's session: `POST /auth/session` signs in exactly as `POST /auth/login` does (the
 * same body, limits and answers: src/auth/sign-in.ts) and sets the session cookie instead of
 * returning a token; `GET /auth/session` tells a reloaded page whether it is signed in and gives
 * the CSRF token back; `POST /auth/session/refresh` rotates the session (the family's next
 * generation, a new CSRF token, the old cookie refused) without moving its absolute end, after
 * reading the user again: a user deleted, moved to another tenant or given another role has the
 * family ended instead;
 * `POST /auth/logout` ends the family and clears the cookie. The cookie's rules are
 * src/auth/session-cookie.ts.
 */
import { z } from "zod";
import { audit, auditClient } from "../audit.ts";
import { USER_ROLES, type UserRole } from "../auth/roles.ts";
import { CSRF_HEADER, type SessionCookie } from "../auth/session-cookie.ts";
import { LoginRequest, type SignIn } from "../auth/sign-in.ts";
import { AppError } from "../errors.ts";
import { createRoute, createRouter, PUBLIC, problem } from "../openapi.ts";

const SessionResponse = z
  .object({
    csrfToken: z
      .string()
      .meta({ description: `Send it as ${CSRF_HEADER} with every request the session cookie authenticates.` }),
    expiresAt: z.string().meta({
      format: "date-time",
      description: "When the session ends unless refreshed first; never after the absolute lifetime.",
    }),
    principal: z.object({
      subject: z.string(),
      tenant: z.string(),
      role: z.enum(USER_ROLES).meta({ description: "A tenant_admin also manages the tenant's API keys." }),
    }),
  })
  .meta({ id: "Session" });

const SESSION_COOKIE: { [scheme: string]: string[] }[] = [{ session: [] }];
const SESSION_COOKIE_AND_CSRF: { [scheme: string]: string[] }[] = [{ session: [], csrfToken: [] }];

const signedIn = {
  description: "Signed in: the session cookie is set",
  content: { "application/json": { schema: SessionResponse } },
};
const sessionRefusals = {
  401: problem("No session, or an invalid, expired or revoked one"),
  403: problem("Origin not allowed, or the CSRF token is missing or wrong"),
  429: problem("Too many requests"),
};

const startSession = createRoute({
  method: "post",
  path: "/auth/session",
  operationId: "startSession",
  security: PUBLIC,
  tags: ["auth"],
  summary: "Sign in with a username and password for a dashboard session cookie",
  request: { body: { required: true, content: { "application/json": { schema: LoginRequest } } } },
  responses: {
    200: signedIn,
    400: problem("Invalid body"),
    401: problem("Wrong username or password"),
    403: problem("Origin not allowed"),
    413: problem("Body too large"),
    415: problem("Not JSON"),
    429: problem("Too many attempts"),
    503: problem("Database or limiter unavailable, or too many sign-ins at once"),
  },
});

const getSession = createRoute({
  method: "get",
  path: "/auth/session",
  operationId: "getSession",
  security: SESSION_COOKIE,
  tags: ["auth"],
  summary: "The current session and its CSRF token (after a page reload)",
  responses: {
    200: { description: "Signed in", content: { "application/json": { schema: SessionResponse } } },
    ...sessionRefusals,
    503: problem("Revocation list unavailable"),
  },
});

const refreshSession = createRoute({
  method: "post",
  path: "/auth/session/refresh",
  operationId: "refreshSession",
  security: SESSION_COOKIE_AND_CSRF,
  tags: ["auth"],
  summary: "Replace the session with a new one (new cookie, new CSRF token) ending no later than the first",
  responses: {
    200: signedIn,
    ...sessionRefusals,
    503: problem("Revocation list or registry unavailable"),
  },
});

const logout = createRoute({
  method: "post",
  path: "/auth/logout",
  operationId: "logout",
  security: SESSION_COOKIE_AND_CSRF,
  tags: ["auth"],
  summary: "End the session on the server and clear its cookie",
  responses: {
    204: { description: "Signed out: the session is revoked and the cookie cleared" },
    ...sessionRefusals,
    503: problem("Revocation list or registry unavailable"),
  },
});

export interface SessionRoutesDeps {
  signIn: SignIn;
  sessions: SessionCookie;
  /** The user as the database holds it now, or undefined if deleted. */
  findUser: (subject: string) => Promise<{ tenant: string; role: UserRole } | undefined>;
}

export function createSessionRoutes({ signIn, sessions, findUser }: SessionRoutesDeps) {
  const router = createRouter();
  // A browser page of a refused origin (a sibling subdomain is same-site) cannot even sign a
  // victim into the attacker's account; checked before any limit is spent.
  router.on("POST", "/auth/session", async (c, next) => {
    sessions.checkOrigin(c);
    await next();
  });
  router.on("POST", "/auth/session", signIn.guard);

  return router
    .openapi(startSession, async (c) => {
      const user = await signIn.verify(c, c.req.valid("json"));
      return c.json(await sessions.start(c, { subject: user.username, tenant: user.tenant, role: user.role }), 200);
    })
    .openapi(getSession, async (c) => c.json(await sessions.view(await sessions.authenticate(c, { csrf: false })), 200))
    .openapi(refreshSession, async (c) => {
      // The family's owner, not this isolate's copy, decides whether this generation may rotate.
      const current = await sessions.authenticate(c, { csrf: true, family: false });
      const user = await findUser(current.subject);
      if (user?.tenant !== current.tenant || user.role !== current.role) {
        await sessions.revoke(c, current);
        audit({
          action: "auth.session.refresh",
          outcome: "refused",
          reason: "principal-changed",
          subject: current.subject,
          requestId: c.get("requestId"),
          ...auditClient(c),
        });
        throw new AppError({
          status: 401,
          code: "unauthorized",
          title: "Authentication required",
          detail: "The account changed: sign in again.",
          headers: { "WWW-Authenticate": 'Bearer realm="streamforge", error="invalid_token"' },
        });
      }
      const renewed = await sessions.rotate(c, current);
      audit({
        action: "auth.session.refresh",
        outcome: "success",
        subject: current.subject,
        requestId: c.get("requestId"),
        ...auditClient(c),
      });
      return c.json(renewed, 200);
    })
    .openapi(logout, async (c) => {
      const current = await sessions.authenticate(c, { csrf: true });
      await sessions.revoke(c, current);
      audit({
        action: "auth.logout",
        outcome: "success",
        subject: current.subject,
        requestId: c.get("requestId"),
        ...auditClient(c),
      });
      sessions.clear(c);
      return c.body(null, 204);
    });
}
