/**
 * Rate-limit policies in the notation operators already know from the seed (`100/minute`,
 * `5/minute`, `1000/hour`, `10/second`), and their rendering as the draft-ietf-httpapi-ratelimit-
 * headers-10 fields `RateLimit-Policy: "name";q=100;w=60` and `RateLimit: "name";r=42;t=17`.
 */
export type FailMode = "open" | "closed";

export interface RatePolicy {
  /** Token used in the RateLimit headers and in the Durable Object key; `[a-z0-9-]+`. */
  name: string;
  limit: number;
  windowMs: number;
  /** What to do when the limiter cannot answer: admit (`open`) or refuse (`closed`). */
  failMode: FailMode;
}

const UNIT_MS: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const NOTATION = /^\s*(\d{1,7})\s*\/\s*(second|minute|hour|day)s?\s*$/i;
const POLICY_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Parses `N/unit`; throws on anything else, so a bad policy stops the worker at start-up. */
export function parseRateNotation(notation: string): { limit: number; windowMs: number } {
  const match = NOTATION.exec(notation);
  if (!match) throw new Error(`not a rate like "100/minute": ${JSON.stringify(notation)}`);
  const limit = Number(match[1]);
  if (limit < 1) throw new Error(`a rate limit must admit at least one request: ${JSON.stringify(notation)}`);
  return { limit, windowMs: UNIT_MS[match[2]!.toLowerCase()]! };
}

export function ratePolicy(name: string, notation: string, failMode: FailMode): RatePolicy {
  if (!POLICY_NAME.test(name)) throw new Error(`bad policy name: ${JSON.stringify(name)}`);
  return { name, failMode, ...parseRateNotation(notation) };
}

export function policyHeader(policy: RatePolicy): string {
  return `"${policy.name}";q=${policy.limit};w=${policy.windowMs / 1000}`;
}

export function rateLimitHeader(policy: RatePolicy, remaining: number, resetSeconds: number): string {
  return `"${policy.name}";r=${remaining};t=${resetSeconds}`;
}
