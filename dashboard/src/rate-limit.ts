/**
 * The draft-ietf-httpapi-ratelimit-headers-10 fields the API sends (`RateLimit: "api";r=42;t=17`,
 * `RateLimit-Policy: "api";q=100;w=60`), read so that the overview's timer spends the remaining
 * permits evenly until the window resets and keeps a reserve for what the user clicks: it slows
 * down as `r` falls and waits for the reset when only the reserve is left, so it never earns a
 * 429 by itself. Several limits can apply to one response (per IP, per key); the tightest wins.
 */
export interface RateLimitItem {
  policy: string;
  remaining: number;
  resetSeconds: number;
  /** From `RateLimit-Policy`, when it names the same policy. */
  quota?: number;
}

const ITEM = /^"([^"\\]*)"((?:;[a-z*][a-z0-9_.*-]*=[^;,]*)*)$/;

/** The list members of a structured-field list, split at commas outside quoted strings. */
function listMembers(field: string): string[] {
  const members: string[] = [];
  let current = "";
  let quoted = false;
  for (const char of field) {
    if (char === '"') quoted = !quoted;
    if (char === "," && !quoted) {
      members.push(current.trim());
      current = "";
    } else {
      current += char;
    }
  }
  if (current.trim() !== "") members.push(current.trim());
  return members;
}

function parameters(field: string | null): Map<string, Map<string, string>> {
  const byPolicy = new Map<string, Map<string, string>>();
  for (const member of listMembers(field ?? "")) {
    const match = ITEM.exec(member);
    if (match === null) continue;
    const params = new Map<string, string>();
    for (const pair of match[2]!.split(";").slice(1)) {
      const [key, value] = pair.split("=") as [string, string];
      params.set(key.trim(), value.trim());
    }
    byPolicy.set(match[1]!, params);
  }
  return byPolicy;
}

const nonNegativeInteger = (value: string | undefined): number | undefined =>
  value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : undefined;

/** Every well-formed item of `RateLimit`, with its quota from `RateLimit-Policy`; malformed items are skipped. */
export function parseRateLimit(rateLimit: string | null, rateLimitPolicy: string | null): RateLimitItem[] {
  const policies = parameters(rateLimitPolicy);
  const items: RateLimitItem[] = [];
  for (const [policy, params] of parameters(rateLimit)) {
    const remaining = nonNegativeInteger(params.get("r"));
    const resetSeconds = nonNegativeInteger(params.get("t"));
    if (remaining === undefined || resetSeconds === undefined) continue;
    const quota = nonNegativeInteger(policies.get(policy)?.get("q"));
    items.push(quota === undefined ? { policy, remaining, resetSeconds } : { policy, remaining, resetSeconds, quota });
  }
  return items;
}

export interface RefreshPlan {
  delayMs: number;
  /** The item that set the pace, if any slowed the timer below its base interval. */
  limitedBy?: RateLimitItem;
}

/** Permits left for the user's own clicks: a fifth of the quota, at least two. */
export function reserveFor(item: RateLimitItem): number {
  return Math.max(2, Math.ceil((item.quota ?? 10) / 5));
}

/**
 * When to refresh next: `baseMs` while permits are plenty; otherwise the reset time spread over
 * the permits above the reserve; and past the reset (plus a second of clock slack) when none are
 * left above it.
 */
export function nextRefresh(items: readonly RateLimitItem[], baseMs: number): RefreshPlan {
  let plan: RefreshPlan = { delayMs: baseMs };
  for (const item of items) {
    const spendable = item.remaining - reserveFor(item);
    const resetMs = (item.resetSeconds + 1) * 1000;
    const delayMs = spendable <= 0 ? resetMs : Math.ceil(resetMs / spendable);
    if (delayMs > plan.delayMs) plan = { delayMs, limitedBy: item };
  }
  return plan;
}
