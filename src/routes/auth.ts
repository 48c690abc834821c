/**
 * `POST /auth/login` (username + password → short-lived bearer token) and `GET /auth/me`. Signing
 * in is src/auth/sign-in.ts, shared with the dashboard's `POST /auth/session`: the same limits,
 * device cookies, password-check budget and answers.
 */
import { z } from "zod";
import { LoginRequest, type SignIn } from "../auth/sign-in.ts";
import type { TokenSettings } from "../auth/tokens.ts";
import { issueToken } from "../auth/tokens.ts";
import { API_SECURITY, createRoute, createRouter, PUBLIC, problem } from "../openapi.ts";

const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int(),
  })
  .meta({ id: "TokenResponse" });

const PrincipalResponse = z
  .object({
    kind: z.enum(["user", "api-key"]),
    subject: z.string(),
    tenant: z.string(),
  })
  .meta({ id: "Principal" });

const login = createRoute({
  method: "post",
  path: "/auth/login",
  operationId: "login",
  security: PUBLIC,
  tags: ["auth"],
  summary: "Exchange a username and password for a bearer token",
  request: { body: { required: true, content: { "application/json": { schema: LoginRequest } } } },
  responses: {
    200: { description: "Signed in", content: { "application/json": { schema: TokenResponse } } },
    400: problem("Invalid body"),
    401: problem("Wrong username or password"),
    413: problem("Body too large"),
    415: problem("Not JSON"),
    429: problem("Too many attempts"),
    503: problem("Database or limiter unavailable, or too many sign-ins at once"),
  },
});

const me = createRoute({
  method: "get",
  path: "/auth/me",
  operationId: "getPrincipal",
  tags: ["auth"],
  summary: "Who the presented credential belongs to",
  security: API_SECURITY,
  responses: {
    200: { description: "The authenticated principal", content: { "application/json": { schema: PrincipalResponse } } },
    401: problem("No or invalid credential"),
    403: problem("Wrong API key"),
    429: problem("Too many requests"),
  },
});

export interface AuthRoutesDeps {
  signIn: SignIn;
  tokens: TokenSettings;
  /** Epoch ms: a token's `iat`, `nbf` and `exp` count from it. */
  clock: () => number;
}

export function createAuthRoutes({ signIn, tokens, clock }: AuthRoutesDeps) {
  const router = createRouter();
  // POST only: another method is a 405 and must neither spend a login attempt nor wait on (or fail with) the limiter.
  router.on("POST", "/auth/login", signIn.guard);

  return router
    .openapi(login, async (c) => {
      const user = await signIn.verify(c, c.req.valid("json"));
      const accessToken = await issueToken(
        { sub: user.username, tenant: user.tenant, role: user.role },
        tokens,
        clock(),
      );
      return c.json({ access_token: accessToken, token_type: "Bearer" as const, expires_in: tokens.ttlSeconds }, 200);
    })
    .openapi(me, (c) => {
      const principal = c.get("principal");
      return c.json({ kind: principal.kind, subject: principal.subject, tenant: principal.tenant }, 200);
    });
}
