/**
 * What the bench loads. A scenario is data: the instance it loads, the path and headers of its
 * requests, the client addresses they cycle through, and the one status every response must have.
 * `bare` is the baseline every other scenario's CPU per request is divided by, so it always runs.
 *
 * To add one, add an entry here and, if it needs one, an instance in instances.ts; `prepare` runs
 * unmeasured before each run. An instance that names a database (the `overview-*` scenarios) makes
 * the bench start PostgreSQL and the local SQL endpoint and seed that database first (scripts/bench/databases.ts).
 */
import { keyChecksum } from "../../src/auth/key-checksum.ts";
import { DEMO_PASSWORD, DEMO_TENANTS } from "../lib/demo-data.ts";
import { CLIENT_POOL, exhaustAllowance, freshClientIp, SPREAD_CLIENT_POOL } from "./clients.ts";
import { BENCH_ORIGIN, type BindingContext, type InstanceName, LIMITED_API_LIMIT } from "./instances.ts";

export interface Scenario {
  name: string;
  summary: string;
  instance: InstanceName;
  path: string;
  headers(context: BindingContext): Record<string, string>;
  /** CF-Connecting-IP of the requests, cycled request by request. */
  clientIps: readonly string[];
  expectedStatus: number;
  /** A response header that proves the scenario did its work, checked before and after each run. */
  expectedHeader?: string;
  /** Concurrent connections of the load, when not the bench's `--connections`. */
  connections?: number;
  /** Wrk Lua script under scripts/bench/lua/; it gets the client addresses as arguments. */
  lua?: string;
  /** Makes the requests POSTs of this JSON body (client-ips.lua's `post-json=`). */
  jsonBody?: string;
  /**
   * Runs only when asked for, by its group's flag or by name: `attribution` breaks another
   * scenario's cost down (`--attribution`); `metrics` needs seeded databases, minutes to build (`--metrics`);
   * `keys` presents 10,000 signed API keys (`--keys`).
   */
  group?: ScenarioGroup;
  /** Unmeasured, before every run: returns the client addresses that run uses. */
  prepare?(target: { url: string; headers: Record<string, string> }): Promise<readonly string[]>;
}

export type ScenarioGroup = "attribution" | "metrics" | "keys";

export const BASELINE = "bare";

/**
 * Database scenarios run two requests in flight: enough to keep both cores busy at 0 ms round
 * trip, few enough that latency measures the request, not a queue (n in flight × service time).
 */
const DATABASE_CONNECTIONS = 2;

/** A scenario of the `metrics` group: the bench's client pool, two in flight, 200 expected. */
function databaseScenario(
  scenario: Pick<Scenario, "name" | "summary" | "instance" | "path"> & Partial<Scenario>,
): Scenario {
  return {
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    expectedHeader: "RateLimit",
    connections: DATABASE_CONNECTIONS,
    group: "metrics",
    ...scenario,
  };
}

/** A past hour of one of the bench tenant's streams, seeded in every bench database (databases.ts). */
function timeseriesPath(): string {
  const toMs = Math.floor(Date.now() / 60_000) * 60_000;
  const range = new URLSearchParams({
    stream: DEMO_TENANTS[0].streams[0],
    from: new Date(toMs - 3_600_000).toISOString(),
    to: new Date(toMs).toISOString(),
    step: "1m",
  });
  return `/metrics/timeseries?${range}`;
}

/** Every scenario sends the same credential and Origin, so request size never differs between them. */
const clientHeaders = ({ apiKey }: BindingContext) => ({ "X-API-Key": apiKey.key, Origin: BENCH_ORIGIN });

/** The first of the bench's signed keys; keys.lua swaps in the next one per request. */
const signedKeyHeaders = ({ signedKeys }: BindingContext) => ({ "X-API-Key": signedKeys!.first, Origin: BENCH_ORIGIN });

/**
 * A key of the scannable format whose checksum is wrong by one character, as a mistyped or forged
 * key is: the shape of a real one (kid, claims, 43-character MAC), so only the checksum refuses it.
 */
const MALFORMED_SCANNABLE_KEY = (() => {
  const claims = Buffer.from(
    JSON.stringify({ id: "bench-malformed", t: DEMO_TENANTS[0].slug, s: ["metrics:read"], iat: 1_800_000_000 }),
  ).toString("base64url");
  const body = `sfk3_k1_${claims}_${"M".repeat(43)}`;
  const checksum = keyChecksum(body);
  return `${body}_${checksum.slice(0, -1)}${checksum.endsWith("0") ? "1" : "0"}`;
})();

export const SCENARIOS: readonly Scenario[] = [
  {
    name: BASELINE,
    summary: "one Hono route, nothing else",
    instance: "bare",
    path: "/bare",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
  },
  {
    name: "builtins",
    summary: "Hono secureHeaders + cors + key header check + DO counter (get/put)",
    instance: "builtins",
    path: "/builtins",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
  },
  {
    name: "full-admitted",
    summary: "GET /auth/me: host, CORS, headers, API key, DO limiter; admitted",
    instance: "main",
    path: "/auth/me",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    // Only set when the Durable Object answered: a fail-open admission would lack it.
    expectedHeader: "RateLimit",
  },
  {
    name: "full-blocked",
    summary: "GET /auth/me from one client over its limit: 429 from isolate memory",
    instance: "main-limited",
    path: "/auth/me",
    headers: clientHeaders,
    clientIps: [],
    expectedStatus: 429,
    expectedHeader: "Retry-After",
    // A new client per run, pushed over its limit just before: its window (a minute) outlasts the run.
    prepare: async ({ url, headers }) => {
      const clientIp = freshClientIp();
      await exhaustAllowance(url, headers, clientIp);
      return [clientIp];
    },
  },
  {
    name: "full-blocked-no-legacy",
    summary: "full-blocked with RATE_LIMIT_LEGACY_HEADERS=false: the cost of the X-RateLimit-* triple",
    instance: "main-limited-no-legacy",
    path: "/auth/me",
    headers: clientHeaders,
    clientIps: [],
    expectedStatus: 429,
    expectedHeader: "Retry-After",
    group: "attribution",
    prepare: async ({ url, headers }) => {
      const clientIp = freshClientIp();
      await exhaustAllowance(url, headers, clientIp);
      return [clientIp];
    },
  },
  // Attribution of full-blocked: its 429 from a bare route, headers made from pairs or copied.
  {
    name: "refusal-pairs",
    summary: "full-blocked's 429 (same 20 headers, same body) from a bare Hono route, headers from name/value pairs",
    instance: "refusal",
    path: "/refusal-pairs",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 429,
    expectedHeader: "Retry-After",
    group: "attribution",
  },
  {
    name: "refusal-headers",
    summary: "the same 429 from a bare Hono route, headers copied from one prebuilt Headers object",
    instance: "refusal",
    path: "/refusal-headers",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 429,
    expectedHeader: "Retry-After",
    group: "attribution",
  },
  {
    name: "refusal-two-long-headers",
    summary: "the same 429 with the same header bytes in 2 headers: whether a header costs by count or by bytes",
    instance: "refusal",
    path: "/refusal-two-long-headers",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 429,
    group: "attribution",
  },
  {
    name: "refusal-fewer-headers",
    summary:
      "the same 429 without the legacy triple and the 4 headers that act only on documents (COOP, Permissions-Policy, Referrer-Policy, X-XSS-Protection): 13 headers",
    instance: "refusal",
    path: "/refusal-fewer-headers",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 429,
    expectedHeader: "Retry-After",
    group: "attribution",
  },
  // What a request with a broken credential costs, against one with none: the scannable format's
  // checksum must refuse a malformed key before any HMAC (COMPARISONS below).
  {
    name: "refused-no-key",
    summary: "GET /auth/me with no credential: 401 from authentication, clients in 12,000 /64s",
    instance: "main",
    path: "/auth/me",
    headers: () => ({ Origin: BENCH_ORIGIN }),
    clientIps: SPREAD_CLIENT_POOL,
    expectedStatus: 401,
    expectedHeader: "WWW-Authenticate",
  },
  {
    name: "refused-malformed-key",
    summary: "the same with an sfk3_ key whose checksum is wrong: 403 before any HMAC, no audit line",
    instance: "main",
    path: "/auth/me",
    headers: () => ({ "X-API-Key": MALFORMED_SCANNABLE_KEY, Origin: BENCH_ORIGIN }),
    clientIps: SPREAD_CLIENT_POOL,
    expectedStatus: 403,
  },
  // Attribution of full-admitted: each takes one more part away.
  {
    name: "full-do-no-sql",
    summary: "full-admitted, but the limiter object keeps counts in memory: no SQLite write",
    instance: "main-limiter-without-storage",
    path: "/auth/me",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    expectedHeader: "RateLimit",
    group: "attribution",
  },
  {
    name: "full-no-do",
    summary: "full-admitted, but the limiter counts in the isolate: no Durable Object call",
    instance: "main-in-isolate-limiter",
    path: "/auth/me",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    expectedHeader: "RateLimit",
    group: "attribution",
  },
  {
    name: "full-edge",
    summary: "GET /health on the main worker: host, transport, CORS, headers; no limiter, no auth",
    instance: "main",
    path: "/health",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    group: "attribution",
  },
  // 10,000 signed keys against today's single legacy entry, both through keys.lua (`same-key=1`:
  // the scenario's own key every time) so that the load generator's work is the same on both sides.
  {
    name: "keys-legacy-1",
    summary: "full-admitted (the one legacy API_KEYS entry), driven by keys.lua like keys-signed-10k",
    instance: "main",
    path: "/auth/me?same-key=1",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    expectedHeader: "RateLimit",
    lua: "keys.lua",
    group: "keys",
  },
  {
    name: "keys-signed-10k",
    summary:
      "the same route, each request presenting the next of 10,000 signed keys (HMAC, revocation copy, last-used batches)",
    instance: "main-signed-keys",
    path: "/auth/me",
    headers: signedKeyHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    expectedHeader: "RateLimit",
    lua: "keys.lua",
    group: "keys",
  },
  // Verification alone, on a bare route.
  {
    name: "verify-legacy",
    summary: "bare route + verification of today's format: one API_KEYS entry, SHA-256, constant-time compare",
    instance: "verify",
    path: "/verify?same-key=1",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    lua: "keys.lua",
    group: "keys",
  },
  {
    name: "verify-signed-10k",
    summary: "bare route + verification of the next of 10,000 signed keys: HMAC-SHA256, constant-time compare, claims",
    instance: "verify",
    path: "/verify",
    headers: signedKeyHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    lua: "keys.lua",
    group: "keys",
  },
  // The overview over two sizes of history: its cost should follow the window (12 streams × 60
  // minutes in both), not the table, through the (tenant_id, bucket_start) covering index.
  databaseScenario({
    name: "overview-10k",
    summary:
      "GET /metrics/overview?window=1h, tenant acme, on ~10 k buckets (PostgreSQL via the local SQL endpoint, metrics role)",
    instance: "main-10k-buckets",
    path: "/metrics/overview?window=1h",
  }),
  databaseScenario({
    name: "overview-10m",
    summary: "the same on ~10 M buckets: the same rows in the window, 1,000× the history",
    instance: "main-10m-buckets",
    path: "/metrics/overview?window=1h",
  }),
  databaseScenario({
    name: "timeseries-10k",
    summary: "GET /metrics/timeseries, one stream, the last hour at step=1m (60 rows), on ~10 k buckets",
    instance: "main-10k-buckets",
    path: timeseriesPath(),
  }),
  databaseScenario({
    name: "streams-10k",
    summary: "GET /streams on ~10 k buckets",
    instance: "main-10k-buckets",
    path: "/streams",
  }),
  databaseScenario({
    name: "login-10k",
    summary: "POST /auth/login, the right password (auth role lookup + PBKDF2), limits out of the way",
    instance: "main-10k-buckets",
    path: "/auth/login",
    jsonBody: JSON.stringify({ username: DEMO_TENANTS[0].username, password: DEMO_PASSWORD }),
    expectedHeader: undefined,
    // One user signing in, one sign-in at a time: without a device cookie a username's password
    // checks run one at a time (src/auth/sign-in-turns.ts), so a second connection's concurrent
    // sign-in as the same user is told to come back, which is the lane working, not a cost.
    connections: 1,
  }),
];

/** Pairs of scenarios whose ratio the report prints, when both ran; `claim` is the ratio they must stay within. */
export const COMPARISONS: readonly {
  numerator: string;
  denominator: string;
  claim: number;
  why: string;
  judgedBy?: "time" | "cpu";
}[] = [
  {
    numerator: "verify-signed-10k",
    denominator: "verify-legacy",
    claim: 1.1,
    judgedBy: "cpu",
    why: "verifying one of 10,000 signed keys costs one HMAC, as checking today's single entry costs one SHA-256",
  },
  {
    numerator: "keys-signed-10k",
    denominator: "keys-legacy-1",
    claim: 1.1,
    // The claim is about the worker's work: CPU per request, not the load a busy machine lets wrk offer.
    judgedBy: "cpu",
    why: "a signed key verifies with one HMAC and Map lookups, whatever the number of keys (src/auth/api-keys.ts)",
  },
  {
    numerator: "refused-malformed-key",
    denominator: "refused-no-key",
    claim: 1.1,
    judgedBy: "cpu",
    why: "the shape and the checksum refuse a malformed sfk3_ key before any HMAC (src/auth/api-keys.ts)",
  },
  {
    numerator: "overview-10m",
    denominator: "overview-10k",
    claim: 2,
    why: "the overview's cost follows the window, not the table (metric_buckets_tenant_window_idx)",
  },
];

/** The burst of concurrent requests from one new client that must admit exactly `limit`. */
export const EXACTNESS = {
  instance: "main-limited",
  path: "/auth/me",
  headers: clientHeaders,
  limit: LIMITED_API_LIMIT,
} as const satisfies { instance: InstanceName; path: string; headers: Scenario["headers"]; limit: number };
