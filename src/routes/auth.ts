/**
 * `POST /auth/login` (username + password → short-lived bearer token) and `GET /auth/me`.
 * Login is limited per client IP and per username, refuses anything but the exact JSON shape, and
 * answers an unknown user and a wrong password identically — same status, same body, and the same
 * PBKDF2 work (a dummy hash is verified when the user does not exist), so neither the answer nor
 * its timing tells which usernames exist.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { PBKDF2_ITERATIONS, verifyPassword } from "../auth/password.ts";
import type { TokenSettings } from "../auth/tokens.ts";
import { issueToken } from "../auth/tokens.ts";
import { withDatabase } from "../db/client.ts";
import { findLoginRecord } from "../db/users.ts";
import type { AppConfig } from "../env.ts";
import { AppError } from "../errors.ts";
import { jsonBody } from "../middleware/json-body.ts";
import type { RateLimiterHandle } from "../middleware/rate-limit.ts";
import { API_SECURITY, createRouter, PUBLIC, problem } from "../openapi.ts";

const LoginRequest = z
  .object({
    username: z
      .string()
      .min(3)
      .max(50)
      .regex(/^[A-Za-z0-9_]+$/, "only letters A-Z, digits and underscore")
      .openapi({ example: "acme_analyst" }),
    password: z.string().min(8).max(128).openapi({ example: "streamforge-demo", format: "password" }),
  })
  .strict()
  .openapi("LoginRequest");

const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int(),
  })
  .openapi("TokenResponse");

const PrincipalResponse = z
  .object({
    kind: z.enum(["user", "api-key"]),
    subject: z.string(),
    tenant: z.string(),
  })
  .openapi("Principal");

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
    503: problem("Database or limiter unavailable"),
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

/** Never matches: verified only so an unknown user costs the same PBKDF2 work as a known one. */
const DUMMY_HASH = ["pbkdf2-sha256", String(PBKDF2_ITERATIONS), "A".repeat(22), "A".repeat(43)].join("$");
const LOGIN_BODY_MAX_BYTES = 1024;

export interface AuthRoutesDeps {
  config: AppConfig;
  tokens: TokenSettings;
  loginByIp: RateLimiterHandle;
  loginByUsername: RateLimiterHandle;
  clientIpKey: (c: Parameters<RateLimiterHandle["enforce"]>[0]) => string;
}

export function createAuthRoutes({ config, tokens, loginByIp, loginByUsername, clientIpKey }: AuthRoutesDeps) {
  const router = createRouter();
  // Per-IP limit first: a flood is refused before its body is even read. POST only: another method
  // is a 405 and must neither spend a login attempt nor wait on (or fail with) the limiter.
  router.on("POST", "/auth/login", async (c, next) => {
    await loginByIp.enforce(c, clientIpKey(c));
    await next();
  });
  router.on("POST", "/auth/login", jsonBody({ maxBytes: LOGIN_BODY_MAX_BYTES }));

  return router
    .openapi(login, async (c) => {
      const { username, password } = c.req.valid("json");
      // Case-folded so that ACME_analyst and acme_analyst draw on one allowance.
      await loginByUsername.enforce(c, `user:${username.toLowerCase()}`);
      const record = await withDatabase(
        { connectionString: config.AUTH_DATABASE_URL, config, waitUntil: (p) => c.executionCtx.waitUntil(p) },
        (db) => findLoginRecord(db, username),
      );
      const passwordOk = await verifyPassword(password, config.PASSWORD_PEPPER, record?.passwordHash ?? DUMMY_HASH);
      if (record === undefined || !passwordOk) {
        throw new AppError({ status: 401, code: "invalid-credentials", title: "Invalid credentials", detail: "The username or password is wrong." });
      }
      const accessToken = await issueToken({ sub: record.username, tenant: record.tenant }, tokens);
      return c.json({ access_token: accessToken, token_type: "Bearer" as const, expires_in: tokens.ttlSeconds }, 200);
    })
    .openapi(me, (c) => {
      const principal = c.get("principal");
      return c.json({ kind: principal.kind, subject: principal.subject, tenant: principal.tenant }, 200);
    });
}
