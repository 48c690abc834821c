/**
 * The sign-in route's side of the username lane (sign-in-turns.ts): asks the username's SignInTurns
 * object for a turn before a password is checked, and hands the turn back after a right password.
 * A refusal is the 429 problem every limiter answers with, its `Retry-After` the moment the lane
 * opens for this client. Like every login limit it fails closed: an object that does not answer in
 * time gets a 503, since guessing must not become free while the object is away.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { rateLimitedProblem } from "../middleware/rate-limit.ts";
import { networkKeysFromIp, UNKNOWN_CLIENT } from "../rate-limit/client-ip.ts";
import type { RatePolicy } from "../rate-limit/policy.ts";
import { limiterUnavailable, logLimiterUnavailable } from "../rate-limit/unavailable.ts";
import { type Turn, type TurnDecision, turnSettings } from "./sign-in-turns.ts";
import type { SignInTurns } from "./sign-in-turns-object.ts";

export interface UsernameTurnsOptions {
  namespace: DurableObjectNamespace<SignInTurns>;
  /** `RATE_LIMIT_LOGIN_USERNAME`: its limit per window, one check at a time, window / limit apart. */
  policy: RatePolicy;
  /**
   * The client's network, the unit that has or has not had a turn. Default: the IPv4 /24 or IPv6 /48
   * of `CF-Connecting-IP` (the widest login tiers: a /48 is what anyone gets free).
   */
  networkOf?: (c: Context<AppEnv>) => string;
  /** Epoch ms, for the refusal's headers only (the object keeps its own time). Default `Date.now`. */
  clock?: () => number;
  /** How long to wait for the object before refusing with 503. Default 1000. */
  timeoutMs?: number;
  /** Also send `X-RateLimit-Limit`/`-Remaining`/`-Reset` on a refusal. Default true. */
  legacyHeaders?: boolean;
}

export interface UsernameTurns {
  /** A turn to check a password for `username`; throws the 429 (or 503) problem otherwise. */
  take(c: Context<AppEnv>, username: string): Promise<Turn>;
  /**
   * After a right password, so that the check does not count: before the answer, so that the lane is
   * open again by the time the client (or its next tab) hears it signed in. A hand-back that fails
   * leaves the check counted: the lane stays shut one spacing, nothing more.
   */
  giveBack(username: string, turn: Turn): Promise<void>;
}

/**
 * The object keeping `username`'s lane under `policy`. A lane per policy: a configuration that
 * changes the spacing starts lanes of its own rather than reading another spacing's state (a
 * deploy that changes it gives each username at most one extra turn).
 */
export const turnsObjectName = (policy: RatePolicy, username: string): string =>
  `${policy.limit}/${policy.windowMs}:${username}`;

const clientNetwork = (c: Context<AppEnv>): string => {
  const networks = networkKeysFromIp(c.req.header("cf-connecting-ip"));
  return networks["ipv4-24"] ?? networks["ipv6-48"] ?? UNKNOWN_CLIENT;
};

/** @example const byUsername = usernameTurns({ namespace: config.SIGN_IN_TURNS, policy: config.RATE_LIMIT_LOGIN_USERNAME }) */
export function usernameTurns(options: UsernameTurnsOptions): UsernameTurns {
  const { namespace, policy } = options;
  const networkOf = options.networkOf ?? clientNetwork;
  const clock = options.clock ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 1000;
  const legacyHeaders = options.legacyHeaders ?? true;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error("timeoutMs must be a positive integer");
  const settings = turnSettings(policy);
  const stubFor = (username: string) => namespace.get(namespace.idFromName(turnsObjectName(policy, username)));

  async function withTimeout<T>(call: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async take(c, username) {
      let decision: TurnDecision;
      try {
        decision = await withTimeout(stubFor(username).take(networkOf(c), settings));
      } catch (error) {
        logLimiterUnavailable(c, policy.name, "closed", error);
        throw limiterUnavailable();
      }
      if (decision.turn !== undefined) return decision.turn;
      const nowMs = clock();
      throw new AppError(rateLimitedProblem(policy, nowMs + decision.retryAfterMs, nowMs, legacyHeaders));
    },

    async giveBack(username, turn) {
      await withTimeout(stubFor(username).giveBack(turn, settings)).catch(() => undefined);
    },
  };
}
