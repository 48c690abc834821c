/**
 * The soak's traffic: a weighted mix of what real clients send — dashboards reading overviews,
 * time series and stream lists, people logging in (and mistyping), one client that does not back
 * off, and malformed or hostile input — each with the statuses it may get. Anything else, a
 * transport error, or an error body that is not problem+json, is an unexpected answer; a 500 that
 * is not problem+json is the runtime's own answer to a request the app never answered, and is
 * counted apart as well.
 */
import { DEMO_PASSWORD, DEMO_TENANTS } from "../lib/demo-data.ts";

export interface LoadContext {
  baseUrl: string;
  apiKey: string;
  /** A current bearer token of the bench tenant's user. */
  bearerToken(): string;
}

interface RequestKind {
  name: string;
  weight: number;
  /** Statuses this request may get; 503 only where `busyCode` names the problem code it must carry. */
  expected: readonly number[];
  busyCode?: string;
  build(context: LoadContext): { path: string; init: RequestInit };
}

/** Dashboards: 300 clients (RFC 2544 addresses), each with its own limiter object, none over its limit for long. */
const DASHBOARD_CLIENTS = Array.from({ length: 300 }, (_, index) => `198.18.${1 + (index >> 8)}.${index & 255}`);
/** Login clients: fewer, so the per-IP login limit (5/minute) is met. */
const LOGIN_CLIENTS = Array.from({ length: 20 }, (_, index) => `198.18.8.${index + 1}`);
/** The client that does not back off: almost all of its requests get 429. */
const GREEDY_CLIENT = "198.18.9.9";
/**
 * Forged tokens and wrong keys: clients of a /24 of their own, as an attacker's are. From the
 * dashboards' /24s they would have the invalid-credential bound refuse those networks' reads too.
 */
const FORGING_CLIENTS = Array.from({ length: 50 }, (_, index) => `198.18.10.${index + 1}`);
const FORGED_KINDS = new Set(["forged bearer token", "wrong API key"]);

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const STREAMS = DEMO_TENANTS[0].streams as readonly string[];
const minutesAgo = (minutes: number) =>
  new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutes * 60_000).toISOString();
const json = (body: string): RequestInit => ({ method: "POST", headers: { "Content-Type": "application/json" }, body });
const withKey = (context: LoadContext): RequestInit => ({ headers: { "X-API-Key": context.apiKey } });
const LOGIN_BUSY = "login-busy";

export const REQUEST_KINDS: readonly RequestKind[] = [
  {
    name: "overview",
    weight: 30,
    expected: [200, 429],
    build: (context) => ({ path: `/metrics/overview?window=${pick(["1h", "24h", "7d"])}`, init: withKey(context) }),
  },
  {
    name: "timeseries",
    weight: 22,
    expected: [200, 429],
    build: (context) => ({
      path: `/metrics/timeseries?stream=${pick(STREAMS)}&from=${minutesAgo(120)}&to=${minutesAgo(0)}&step=${pick(["1m", "5m", "1h"])}`,
      init: withKey(context),
    }),
  },
  {
    name: "streams (bearer)",
    weight: 12,
    expected: [200, 429],
    build: (context) => ({ path: "/streams", init: { headers: { Authorization: `Bearer ${context.bearerToken()}` } } }),
  },
  {
    name: "login",
    weight: 5,
    expected: [200, 429, 503],
    busyCode: LOGIN_BUSY,
    build: () => ({
      path: "/auth/login",
      init: json(JSON.stringify({ username: pick(DEMO_TENANTS).username, password: DEMO_PASSWORD })),
    }),
  },
  {
    name: "login, wrong password",
    weight: 3,
    expected: [401, 429, 503],
    busyCode: LOGIN_BUSY,
    build: () => ({
      path: "/auth/login",
      init: json(JSON.stringify({ username: pick(DEMO_TENANTS).username, password: "not-the-password" })),
    }),
  },
  {
    name: "greedy client",
    weight: 8,
    expected: [200, 429],
    build: (context) => ({ path: "/metrics/overview", init: withKey(context) }),
  },
  {
    name: "bad window",
    weight: 3,
    expected: [400, 429],
    build: (context) => ({ path: "/metrics/overview?window=forever&window=1h", init: withKey(context) }),
  },
  {
    name: "bad time series",
    weight: 3,
    expected: [400, 429],
    build: (context) => ({
      path: `/metrics/timeseries?stream=${encodeURIComponent("' OR 1=1 --")}&from=yesterday&to=${"9".repeat(40)}`,
      init: withKey(context),
    }),
  },
  {
    name: "unknown stream",
    weight: 2,
    expected: [404, 429],
    build: (context) => ({
      path: `/metrics/timeseries?stream=no-such-stream&from=${minutesAgo(60)}&to=${minutesAgo(0)}&step=5m`,
      init: withKey(context),
    }),
  },
  {
    name: "login, malformed JSON",
    weight: 2,
    expected: [400, 429],
    build: () => ({ path: "/auth/login", init: json('{"username": "acme_analyst", "password": ') }),
  },
  {
    name: "login, missing field",
    weight: 1,
    expected: [400, 429],
    build: () => ({ path: "/auth/login", init: json('{"username": "acme_analyst", "__proto__": {"admin": true}}') }),
  },
  {
    name: "forged bearer token",
    weight: 3,
    expected: [401, 429],
    build: () => ({
      path: "/streams",
      init: { headers: { Authorization: "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." } },
    }),
  },
  {
    name: "wrong API key",
    weight: 3,
    expected: [403, 429],
    build: () => ({
      path: "/metrics/overview",
      init: { headers: { "X-API-Key": "sfk_nobody_0000000000000000000000000000000000000000000" } },
    }),
  },
  {
    name: "unknown path",
    weight: 2,
    expected: [404],
    build: () => ({ path: `/wp-admin/${"%3Cscript%3E".repeat(8)}`, init: {} }),
  },
  {
    name: "wrong method",
    weight: 1,
    expected: [405, 429],
    build: (context) => ({ path: "/streams", init: { method: "DELETE", ...withKey(context) } }),
  },
];

function clientFor(kind: RequestKind): string {
  if (kind.name === "greedy client") return GREEDY_CLIENT;
  if (FORGED_KINDS.has(kind.name)) return pick(FORGING_CLIENTS);
  return kind.name.startsWith("login") ? pick(LOGIN_CLIENTS) : pick(DASHBOARD_CLIENTS);
}

const totalWeight = REQUEST_KINDS.reduce((sum, kind) => sum + kind.weight, 0);

function pickKind(): RequestKind {
  let ticket = Math.random() * totalWeight;
  for (const kind of REQUEST_KINDS) {
    ticket -= kind.weight;
    if (ticket < 0) return kind;
  }
  return REQUEST_KINDS.at(-1)!;
}

export interface Answer {
  kind: string;
  /** The status, or 0 for a transport error or timeout. */
  status: number;
  /** Why the answer was not one of the expected ones; undefined when it was. */
  unexpected?: string;
  /** The runtime's plain 500: the app threw past its error handler, hung, or did cross-request I/O. */
  plainRuntime500?: true;
  latencyMs: number;
}

/** Sends one request of a randomly chosen kind and judges its answer. */
export async function sendOne(context: LoadContext, timeoutMs: number): Promise<Answer> {
  const kind = pickKind();
  const { path, init } = kind.build(context);
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", clientFor(kind));
  const started = performance.now();
  try {
    const response = await fetch(context.baseUrl + path, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
    const body = await response.text();
    const latencyMs = performance.now() - started;
    const answer = { kind: kind.name, status: response.status, latencyMs };
    if (response.status === 500 && response.headers.get("content-type") !== "application/problem+json") {
      const type = response.headers.get("content-type");
      return { ...answer, unexpected: `plain runtime 500 (${type}): ${body.slice(0, 200)}`, plainRuntime500: true };
    }
    if (!kind.expected.includes(response.status))
      return { ...answer, unexpected: `status ${response.status}: ${body.slice(0, 200)}` };
    if (response.status >= 400 && response.headers.get("content-type") !== "application/problem+json") {
      return {
        ...answer,
        unexpected: `status ${response.status} without problem+json (${response.headers.get("content-type")})`,
      };
    }
    if (response.status === 503 && !body.includes(`"code":"${kind.busyCode}"`))
      return { ...answer, unexpected: `503 that is not ${kind.busyCode}: ${body.slice(0, 200)}` };
    return answer;
  } catch (error) {
    return {
      kind: kind.name,
      status: 0,
      unexpected: `transport: ${error instanceof Error ? error.message : String(error)}`,
      latencyMs: performance.now() - started,
    };
  }
}
