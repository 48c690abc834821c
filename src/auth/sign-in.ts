/**
 * Signing in with a username and password: the one code path behind `POST /auth/login` (a bearer
 * token) and `POST /auth/session` (a dashboard session), so both spend the same counters. It is
 * limited per client, per wider network, per username (failures only: a lane of evenly spaced
 * checks that an attacker cannot close for longer than one spacing, username-turns.ts; a client
 * with a device cookie for the user draws on its own allowance instead) and by a per-isolate budget
 * of password checks; it refuses anything but the exact JSON shape, and answers an unknown user and a wrong
 * password identically — same status, same body, and the same PBKDF2 work (a dummy hash is
 * verified when the user does not exist), so neither the answer nor its timing tells which
 * usernames exist.
 */

import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { audit, auditClient } from "../audit.ts";
import type { Database } from "../db/client.ts";
import { findLoginRecord, type LoginRecord } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { jsonBody } from "../middleware/json-body.ts";
import { type RateLimitTier, tierCalls } from "../middleware/network-rate-limit.ts";
import { enforceInOrder, type RateLimiterHandle } from "../middleware/rate-limit.ts";
import type { IsolateBudget } from "../rate-limit/isolate-budget.ts";
import type { DeviceCookies } from "./device-cookie.ts";
import { PBKDF2_ITERATIONS, verifyPassword } from "./password.ts";
import type { UserRole } from "./roles.ts";
import type { UsernameTurns } from "./username-turns.ts";

export const LoginRequest = z
  .object({
    username: z
      .string()
      .min(3)
      .max(50)
      .regex(/^[A-Za-z0-9_]+$/, "only letters A-Z, digits and underscore")
      .meta({ example: "acme_analyst" }),
    password: z.string().min(8).max(128).meta({ example: "streamforge-demo", format: "password" }),
  })
  .strict()
  .meta({ id: "LoginRequest" });

/** Never matches: verified only so an unknown user costs the same PBKDF2 work as a known one. */
const DUMMY_HASH = ["pbkdf2-sha256", String(PBKDF2_ITERATIONS), "A".repeat(22), "A".repeat(43)].join("$");
const LOGIN_BODY_MAX_BYTES = 1024;

export interface LoginLimits {
  /**
   * Per client and per wider network (IPv4 /24, IPv6 /56 and /48), narrowest first: each applies
   * when it has a key for the client.
   */
  byNetwork: readonly RateLimitTier[];
  /** Failed attempts per username from clients without a device cookie for it. */
  byUsername: UsernameTurns;
  /** Failed attempts per device cookie. */
  byDevice: RateLimiterHandle;
  /** Password checks per isolate. */
  passwordChecks: IsolateBudget;
  devices: DeviceCookies;
  clock: () => number;
}

export interface SignInDeps {
  /** The authentication role. */
  database: Database;
  passwordPepper: string;
  limits: LoginLimits;
}

export interface SignIn {
  /**
   * For the sign-in route: the network limits (a flood is refused before its body is even read),
   * then the JSON body rules.
   */
  guard: MiddlewareHandler<AppEnv>;
  /** The user the credentials belong to; throws the 401, 429 or 503 problem otherwise. */
  verify(
    c: Context<AppEnv>,
    credentials: z.infer<typeof LoginRequest>,
  ): Promise<{ username: string; tenant: string; role: UserRole }>;
}

/**
 * Runs the network limits from the narrowest to the widest, so that a wider network's permit is
 * spent only by a request all its narrower limits admitted, and hands back what a refused request
 * spent: a client refused by its own limit costs its neighbours nothing.
 */
async function enforceTiers(c: Context<AppEnv>, tiers: LoginLimits["byNetwork"]): Promise<void> {
  try {
    // A network this isolate knows to be exhausted refuses before a narrower tier spends.
    await enforceInOrder(c, tierCalls(tiers, c.req.header("cf-connecting-ip")));
  } catch (error) {
    const requestId = c.get("requestId");
    audit({ action: "auth.login", outcome: "refused", reason: "network-rate-limited", requestId, ...auditClient(c) });
    throw error;
  }
}

/** @example const signIn = createSignIn({ database, passwordPepper: config.PASSWORD_PEPPER, limits }) */
export function createSignIn({ database, passwordPepper, limits }: SignInDeps): SignIn {
  const loginBody = jsonBody({ maxBytes: LOGIN_BODY_MAX_BYTES });

  return {
    async guard(c, next) {
      await enforceTiers(c, limits.byNetwork);
      await loginBody(c, next);
    },

    async verify(c, { username, password }) {
      const deviceId = await limits.devices.deviceFor(c, username);
      const loginEvent = (outcome: "success" | "refused", reason?: string) =>
        audit({
          action: "auth.login",
          outcome,
          ...(reason === undefined ? {} : { reason }),
          subject: username,
          requestId: c.get("requestId"),
          ...auditClient(c),
        });
      // A client that signed in as this user before has its own allowance; everyone else takes turns
      // on the username's lane, keyed exactly as users.username is unique: ACME_analyst is another
      // account (or none), and guesses at it must not hold up acme_analyst.
      let handBack: () => Promise<void>;
      try {
        if (deviceId === undefined) {
          const turn = await limits.byUsername.take(c, username);
          handBack = () => limits.byUsername.giveBack(username, turn);
        } else {
          const deviceKey = `device:${deviceId}`;
          const permit = await limits.byDevice.enforce(c, deviceKey);
          handBack = async () => {
            if (permit !== undefined) limits.byDevice.refund(c, deviceKey, permit);
          };
        }
      } catch (error) {
        loginEvent("refused", "rate-limited");
        throw error;
      }
      const budget = limits.passwordChecks.take(limits.clock());
      if (!budget.ok) {
        await handBack();
        const retryAfter = String(Math.max(1, Math.ceil(budget.retryAfterMs / 1000)));
        throw new AppError({
          status: 503,
          code: "login-busy",
          title: "Service busy",
          detail: "Too many sign-ins at once. Try again shortly.",
          headers: { "Retry-After": retryAfter },
        });
      }
      let record: LoginRecord | undefined;
      let passwordOk: boolean;
      try {
        [record] = await database.read([findLoginRecord(username)]);
        passwordOk = await verifyPassword(password, passwordPepper, record?.passwordHash ?? DUMMY_HASH);
      } catch (error) {
        // No password was checked (the database failed): the attempt must not cost the lane a turn.
        await handBack();
        throw error;
      }
      if (record === undefined || !passwordOk) {
        loginEvent("refused", "invalid-credentials");
        throw new AppError({
          status: 401,
          code: "invalid-credentials",
          title: "Invalid credentials",
          detail: "The username or password is wrong.",
        });
      }
      // Only failures count against the username: a user signing in is not one of the attempts to bound.
      await handBack();
      loginEvent("success");
      await limits.devices.remember(c, record.username, deviceId);
      return { username: record.username, tenant: record.tenant, role: record.role };
    },
  };
}
