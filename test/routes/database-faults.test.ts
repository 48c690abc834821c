/**
 * Database faults through the real routes, inside workerd: whatever the database (or Neon's proxy
 * in front of it) does, the client gets the same 503 problem with Retry-After, within a stated
 * time, with nothing of the fault's text, and nothing is written. The faults come from the suite's
 * SQL endpoint (test/support/sql-faults.ts), selected per connection string.
 */
import { describe, expect, it, vi } from "vitest";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { requestWith } from "../support/app.ts";
import { SQL_FAULT_MARKER, SQL_FAULTS, TEST_API_KEYS } from "../support/constants.ts";
import { tableFingerprint } from "../support/owner-db.ts";
import { testEnv } from "../support/test-env.ts";

type Fault = (typeof SQL_FAULTS)[keyof typeof SQL_FAULTS];

function withFault(url: string, fault: Fault): string {
  const faulty = new URL(url);
  faulty.searchParams.set("application_name", fault);
  return faulty.toString();
}

let clientCounter = 0;
const nextClientIp = () => `10.90.${Math.floor(++clientCounter / 250)}.${clientCounter % 250}`;
const minutesAgo = (minutes: number) =>
  new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutes * 60_000).toISOString();

/** Every route that reads the database, as a client calls it. */
const ROUTES: Record<string, () => [string, RequestInit]> = {
  "GET /metrics/overview": () => ["/metrics/overview", { headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key } }],
  "GET /metrics/timeseries": () => [
    `/metrics/timeseries?stream=orders.created&from=${minutesAgo(60)}&to=${minutesAgo(0)}&step=5m`,
    { headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key } },
  ],
  "GET /streams": () => ["/streams", { headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key } }],
  "POST /auth/login": () => [
    "/auth/login",
    {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "acme_analyst", password: DEMO_PASSWORD }),
    },
  ],
  // Another user than /auth/login's: the routes are called at once, and a username's lane lets one
  // check at a time through (src/auth/sign-in-turns.ts).
  "POST /auth/session": () => [
    "/auth/session",
    {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "globex_analyst", password: DEMO_PASSWORD }),
    },
  ],
  "GET /health/ready": () => ["/health/ready", {}],
};

interface Outcome {
  route: string;
  status: number;
  contentType: string | null;
  retryAfter: string | null;
  code: unknown;
  leaked: boolean;
  elapsedMs: number;
}

async function callEveryRoute(env: Record<string, string>): Promise<{ outcomes: Outcome[]; logs: string }> {
  const errors = vi.spyOn(console, "error").mockImplementation(() => {});
  try {
    const outcomes = await Promise.all(
      Object.entries(ROUTES).map(async ([route, build]) => {
        const [path, init] = build();
        const headers = new Headers(init.headers);
        headers.set("CF-Connecting-IP", nextClientIp());
        const started = performance.now();
        const response = await requestWith(env, path, { ...init, headers });
        const text = await response.text();
        const elapsedMs = performance.now() - started;
        const body = JSON.parse(text) as { code?: unknown };
        return {
          route,
          status: response.status,
          contentType: response.headers.get("content-type"),
          retryAfter: response.headers.get("retry-after"),
          code: body.code,
          leaked: text.includes(SQL_FAULT_MARKER) || /password_hash|57014|57P01|NeonDbError|127\.0\.0\.1/.test(text),
          elapsedMs,
        };
      }),
    );
    return { outcomes, logs: errors.mock.calls.flat().join("\n") };
  } finally {
    errors.mockRestore();
  }
}

/**
 * Every test signs two demo users in (/auth/login and /auth/session, which share their limits)
 * from addresses of one /24: neither the username's nor the network's limit may answer before the database.
 */
const UNLIMITED_LOGINS = { RATE_LIMIT_LOGIN_USERNAME: "1000/hour", RATE_LIMIT_LOGIN_IPV4_24: "1000/minute" };

function faultEnv(fault: Fault): Record<string, string> {
  return {
    ...UNLIMITED_LOGINS,
    DATABASE_URL: withFault(testEnv.DATABASE_URL, fault),
    AUTH_DATABASE_URL: withFault(testEnv.AUTH_DATABASE_URL, fault),
  };
}

function expectDeclaredOutcome(outcomes: Outcome[], withinMs: number): void {
  for (const outcome of outcomes) {
    expect({ ...outcome, elapsedMs: undefined }).toEqual({
      route: outcome.route,
      status: 503,
      contentType: "application/problem+json",
      retryAfter: "5",
      code: "database-unavailable",
      leaked: false,
      elapsedMs: undefined,
    });
    expect(outcome.elapsedMs).toBeLessThan(withinMs);
  }
}

describe("database faults on every database route", () => {
  it("serves every route normally when no fault is named (the same env path the faults use)", async () => {
    const { outcomes } = await callEveryRoute({
      ...UNLIMITED_LOGINS,
      DATABASE_URL: testEnv.DATABASE_URL,
      AUTH_DATABASE_URL: testEnv.AUTH_DATABASE_URL,
    });
    expect(outcomes.map(({ route, status }) => [route, status])).toEqual(
      Object.keys(ROUTES).map((route) => [route, 200]),
    );
  });

  it.each([
    ["the backend dies mid-transaction (57P01)", SQL_FAULTS.terminated],
    ["the connection drops without an answer", SQL_FAULTS.hangUp],
    ["the proxy cannot connect to Postgres (HTTP 500)", SQL_FAULTS.refused],
    ["a 200 that is not JSON", SQL_FAULTS.notJson],
    ["a 200 of the wrong shape", SQL_FAULTS.wrongShape],
    ["a 200 with fewer result sets than statements", SQL_FAULTS.missingResults],
    ["a 200 cut off halfway", SQL_FAULTS.truncated],
  ])("answers %s with the 503 problem within 2 s, quoting nothing, writing nothing", async (_label, fault) => {
    const before = await tableFingerprint();
    const { outcomes, logs } = await callEveryRoute(faultEnv(fault));
    // Login runs its PBKDF2 check on the way; 2 s bounds that on a shared machine.
    expectDeclaredOutcome(outcomes, 2000);
    expect(logs).not.toContain(SQL_FAULT_MARKER);
    expect(await tableFingerprint()).toEqual(before);
  });

  it("answers a statement past the role's timeout with the 503 problem within 7 s", async () => {
    const { outcomes } = await callEveryRoute(faultEnv(SQL_FAULTS.statementTimeout));
    expectDeclaredOutcome(outcomes, 7000);
    for (const outcome of outcomes) expect(outcome.elapsedMs).toBeGreaterThanOrEqual(4900);
  }, 20_000);

  it("gives up on a database that never answers at the 8 s request timeout: the 503 problem within 10 s", async () => {
    const { outcomes } = await callEveryRoute(faultEnv(SQL_FAULTS.unanswered));
    expectDeclaredOutcome(outcomes, 10_000);
    for (const outcome of outcomes) expect(outcome.elapsedMs).toBeGreaterThanOrEqual(7900);
  }, 20_000);

  it("answers an endpoint that refuses connections with the 503 problem within 2 s", async () => {
    // Nothing listens on port 9. The driver's endpoint is global to the isolate: the next app built
    // with the suite's endpoint sets it back.
    const { outcomes } = await callEveryRoute({ ...UNLIMITED_LOGINS, LOCAL_SQL_ENDPOINT: "http://127.0.0.1:9/sql" });
    expectDeclaredOutcome(outcomes, 2000);
  });
});
