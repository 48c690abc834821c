/**
 * `POST /auth/login` (username + password → short-lived bearer token) and `GET /auth/me`.
 * Login is limited per client, per wider network, per username (failures only, with device
 * cookies so that an attacker cannot lock a user out of their own client) and by a per-isolate
 * budget of password checks; it refuses anything but the exact JSON shape, and
 * answers an unknown user and a wrong password identically — same status, same body, and the same
 * PBKDF2 work (a dummy hash is verified when the user does not exist), so neither the answer nor
 * its timing tells which usernames exist.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { audit, auditClient } from "../audit.ts";
import type { DeviceCookies } from "../auth/device-cookie.ts";
import { PBKDF2_ITERATIONS, verifyPassword } from "../auth/password.ts";
import type { TokenSettings } from "../auth/tokens.ts";
import { issueToken } from "../auth/tokens.ts";
import type { Database } from "../db/client.ts";
import { findLoginRecord } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { jsonBody } from "../middleware/json-body.ts";
import type { RateLimiterHandle } from "../middleware/rate-limit.ts";
import { API_SECURITY, createRouter, PUBLIC, problem } from "../openapi.ts";
import type { IsolateBudget } from "../rate-limit/isolate-budget.ts";

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

/** Never matches: verified only so an unknown user costs the same PBKDF2 work as a known one. */
const DUMMY_HASH = ["pbkdf2-sha256", String(PBKDF2_ITERATIONS), "A".repeat(22), "A".repeat(43)].join("$");
const LOGIN_BODY_MAX_BYTES = 1024;

export interface LoginLimits {
  /** Per client and per wider network (IPv4 /24, IPv6 /56 and /48): each applies when it has a key for the client. */
  byNetwork: readonly { limiter: RateLimiterHandle; keyOf: (c: Context<AppEnv>) => string | undefined }[];
  /** Failed attempts per username from clients without a device cookie for it. */
  byUsername: RateLimiterHandle;
  /** Failed attempts per device cookie. */
  byDevice: RateLimiterHandle;
  /** Password checks per isolate. */
  passwordChecks: IsolateBudget;
  devices: DeviceCookies;
  clock: () => number;
}

export interface AuthRoutesDeps {
  /** The authentication role. */
  database: Database;
  passwordPepper: string;
  tokens: TokenSettings;
  limits: LoginLimits;
}

/** Runs every limit at once, so the slowest object call sets the latency; any refusal refuses. */
async function enforceAll(c: Context<AppEnv>, checks: Promise<unknown>[]): Promise<void> {
  const outcomes = await Promise.allSettled(checks);
  const refused = outcomes.find((outcome) => outcome.status === "rejected");
  if (refused !== undefined) {
    audit({ action: "auth.login", outcome: "refused", reason: "network-rate-limited", requestId: c.get("requestId"), ...auditClient(c) });
    throw refused.reason;
  }
}


export function createAuthRoutes({ database, passwordPepper, tokens, limits }: AuthRoutesDeps) {
  const router = createRouter();
  // Network limits first: a flood is refused before its body is even read. POST only: another
  // method is a 405 and must neither spend a login attempt nor wait on (or fail with) the limiter.
  router.on("POST", "/auth/login", async (c, next) => {
    await enforceAll(
      c,
      limits.byNetwork.flatMap(({ limiter, keyOf }) => {
        const key = keyOf(c);
        return key === undefined ? [] : [limiter.enforce(c, key)];
      }),
    );
    await next();
  });
  router.on("POST", "/auth/login", jsonBody({ maxBytes: LOGIN_BODY_MAX_BYTES }));

  return router
    .openapi(login, async (c) => {
      const { username, password } = c.req.valid("json");
      const deviceId = await limits.devices.deviceFor(c, username);
      // A client that signed in as this user before has its own allowance; everyone else shares
      // the username's, case-folded so that ACME_analyst and acme_analyst draw on one.
      const [attempts, attemptKey] = deviceId === undefined ? [limits.byUsername, `user:${username.toLowerCase()}`] : [limits.byDevice, `device:${deviceId}`];
      const loginEvent = (outcome: "success" | "refused", reason?: string) =>
        audit({ action: "auth.login", outcome, ...(reason === undefined ? {} : { reason }), subject: username.toLowerCase(), requestId: c.get("requestId"), ...auditClient(c) });
      let permit;
      try {
        permit = await attempts.enforce(c, attemptKey);
      } catch (error) {
        loginEvent("refused", "rate-limited");
        throw error;
      }
      const budget = limits.passwordChecks.take(limits.clock());
      if (!budget.ok) {
        if (permit !== undefined) attempts.refund(c, attemptKey, permit);
        const retryAfter = String(Math.max(1, Math.ceil(budget.retryAfterMs / 1000)));
        throw new AppError({ status: 503, code: "login-busy", title: "Service busy", detail: "Too many sign-ins at once. Try again shortly.", headers: { "Retry-After": retryAfter } });
      }
      const [record] = await database.read([findLoginRecord(username)]);
      const passwordOk = await verifyPassword(password, passwordPepper, record?.passwordHash ?? DUMMY_HASH);
      if (record === undefined || !passwordOk) {
        loginEvent("refused", "invalid-credentials");
        throw new AppError({ status: 401, code: "invalid-credentials", title: "Invalid credentials", detail: "The username or password is wrong." });
      }
      // Only failures count against the username: a user signing in is not one of the attempts to bound.
      if (permit !== undefined) attempts.refund(c, attemptKey, permit);
      loginEvent("success");
      await limits.devices.remember(c, record.username, deviceId);
      const accessToken = await issueToken({ sub: record.username, tenant: record.tenant }, tokens);
      return c.json({ access_token: accessToken, token_type: "Bearer" as const, expires_in: tokens.ttlSeconds }, 200);
    })
    .openapi(me, (c) => {
      const principal = c.get("principal");
      return c.json({ kind: principal.kind, subject: principal.subject, tenant: principal.tenant }, 200);
    });
}
