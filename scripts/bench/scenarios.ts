/**
 * What the bench loads. A scenario is data: the instance it loads, the path and headers of its
 * requests, the client addresses they cycle through, and the one status every response must have.
 * `bare` is the baseline every other scenario's CPU per request is divided by, so it always runs.
 *
 * To add one, add an entry here and, if it needs one, an instance in instances.ts; `prepare` runs
 * unmeasured before each run. `GET /metrics/overview` over a seeded history, for example, needs an
 * instance of the main worker whose DATABASE_URL and LOCAL_DB_BRIDGE come from the BindingContext,
 * and bench.ts to start Postgres, seed it and open the bridge (scripts/lib/postgres.ts, seed.ts,
 * ws-bridge.ts) before it starts the instances.
 */
import { CLIENT_POOL, exhaustAllowance, freshClientIp } from "./clients.ts";
import { BENCH_ORIGIN, LIMITED_API_LIMIT, type BindingContext, type InstanceName } from "./instances.ts";

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
  /** Wrk Lua script under scripts/bench/lua/; it gets the client addresses as arguments. */
  lua?: string;
  /** Breaks another scenario's cost down; runs only when asked for (`--attribution`, or by name). */
  attribution?: boolean;
  /** Unmeasured, before every run: returns the client addresses that run uses. */
  prepare?(target: { url: string; headers: Record<string, string> }): Promise<readonly string[]>;
}

export const BASELINE = "bare";

/** Every scenario sends the same credential and Origin, so request size never differs between them. */
const clientHeaders = ({ apiKey }: BindingContext) => ({ "X-API-Key": apiKey.key, Origin: BENCH_ORIGIN });

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
    attribution: true,
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
    attribution: true,
  },
  {
    name: "full-edge",
    summary: "GET /health on the main worker: host, transport, CORS, headers; no limiter, no auth",
    instance: "main",
    path: "/health",
    headers: clientHeaders,
    clientIps: CLIENT_POOL,
    expectedStatus: 200,
    attribution: true,
  },
];

/** The burst of concurrent requests from one new client that must admit exactly `limit`. */
export const EXACTNESS = {
  instance: "main-limited",
  path: "/auth/me",
  headers: clientHeaders,
  limit: LIMITED_API_LIMIT,
} as const satisfies { instance: InstanceName; path: string; headers: Scenario["headers"]; limit: number };
