import { describe, expect, it } from "vitest";
import { DEMO_TENANTS } from "../../scripts/lib/demo-data.ts";
import { issueToken } from "../../src/auth/tokens.ts";
import { fetchWorker, readProblem, requestWith } from "../support/app.ts";
import { TEST_API_KEYS, TEST_JWT_SIGNING_KEY } from "../support/constants.ts";
import { tableFingerprint } from "../support/owner-db.ts";

const ACME_STREAMS = DEMO_TENANTS[0].streams as readonly string[];
const GLOBEX_STREAMS = DEMO_TENANTS[1].streams as readonly string[];
const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};

let ipCounter = 0;
function asAcme(path: string): Promise<Response> {
  ipCounter++;
  return fetchWorker(path, {
    headers: {
      "X-API-Key": TEST_API_KEYS.acmeCurrent.key,
      "CF-Connecting-IP": `10.60.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`,
    },
  });
}

function isoMinutesAgo(minutes: number): string {
  return new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutes * 60_000).toISOString();
}

type Overview = {
  tenant: string;
  window: string;
  events: number;
  events_per_second: number;
  error_rate: number;
  active_streams: number;
  latency_p95_ms: number;
  top_streams: { stream: string; events: number }[];
};

describe("GET /metrics/overview", () => {
  it("summarises the caller's tenant over the default hour", async () => {
    const response = await asAcme("/metrics/overview");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("ratelimit")).toMatch(
      /^"api";r=\d+;t=\d+, "principal";r=\d+;t=\d+, "tenant-queries";r=\d+;t=\d+$/,
    );
    const overview = (await response.json()) as Overview;
    expect(overview).toMatchObject({ tenant: "acme", window: "1h", active_streams: ACME_STREAMS.length });
    expect(overview.events).toBeGreaterThan(0);
    expect(overview.events_per_second).toBeCloseTo(overview.events / 3600, 6);
    expect(overview.error_rate).toBeGreaterThanOrEqual(0);
    expect(overview.error_rate).toBeLessThan(1);
    expect(overview.latency_p95_ms).toBeGreaterThan(0);
    expect(overview.top_streams).toHaveLength(5);
    for (const top of overview.top_streams) expect(ACME_STREAMS).toContain(top.stream);
    const events = overview.top_streams.map((top) => top.events);
    expect(events).toEqual([...events].sort((a, b) => b - a));
  });

  it("scopes a user's token to the token's tenant", async () => {
    const token = await issueToken({ sub: "globex_analyst", tenant: "globex" }, TOKENS);
    const response = await fetchWorker("/metrics/overview?window=15m", {
      headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": "10.61.0.1" },
    });
    expect(response.status).toBe(200);
    const overview = (await response.json()) as Overview;
    expect(overview).toMatchObject({ tenant: "globex", window: "15m", active_streams: GLOBEX_STREAMS.length });
    for (const top of overview.top_streams) expect(GLOBEX_STREAMS).toContain(top.stream);
  });

  it("grows with the window", async () => {
    const quarter = (await (await asAcme("/metrics/overview?window=15m")).json()) as Overview;
    const day = (await (await asAcme("/metrics/overview?window=24h")).json()) as Overview;
    expect(day.events).toBeGreaterThan(quarter.events);
  });

  it.each([["window=2h"], ["window="], ["window=1h&window=7d"], ["tenant=globex"], ["window=1h&debug=1"]])(
    "refuses ?%s with a 400 problem",
    async (query) => {
      const response = await asAcme(`/metrics/overview?${query}`);
      expect(response.status).toBe(400);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(await readProblem(response)).toMatchObject({ code: "validation-failed" });
    },
  );

  it("is limited per client IP, answering 429 with Retry-After once the policy is spent", async () => {
    const init = { headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "CF-Connecting-IP": "10.61.0.9" } };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await requestWith({ RATE_LIMIT_API: "3/minute" }, "/metrics/overview", init)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await requestWith({ RATE_LIMIT_API: "3/minute" }, "/streams", init);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("requires a credential", async () => {
    const response = await fetchWorker("/metrics/overview", { headers: { "CF-Connecting-IP": "10.61.0.2" } });
    expect(response.status).toBe(401);
  });

  it("answers 503 with Retry-After and no driver text when the database is down", async () => {
    const response = await requestWith(
      { DATABASE_URL: "postgres://streamforge_metrics:pw@127.0.0.1:1/streamforge?sslmode=disable" },
      "/metrics/overview",
      {
        headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "CF-Connecting-IP": "10.61.0.3" },
      },
    );
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ code: "database-unavailable" });
    expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|streamforge_metrics|WebSocket/);
  });
});

describe("GET /metrics/timeseries", () => {
  it("returns one point per step for the caller's stream", async () => {
    // An hour that ended before the suite started: the seeded history ends when the suite's setup ran.
    const response = await asAcme(
      `/metrics/timeseries?stream=orders.created&from=${isoMinutesAgo(120)}&to=${isoMinutesAgo(60)}&step=5m`,
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      stream: string;
      step: string;
      points: { t: string; events: number; latency_p99_ms: number; latency_p95_ms: number }[];
    };
    expect(body).toMatchObject({ stream: "orders.created", step: "5m" });
    expect(body.points).toHaveLength(12);
    expect(body.points.every((point) => point.events > 0 && point.latency_p99_ms >= point.latency_p95_ms)).toBe(true);
    expect(Date.parse(body.points[1]!.t) - Date.parse(body.points[0]!.t)).toBe(300_000);
  });

  it("serves the longest span it allows, 31 days, at step=1d", async () => {
    const response = await asAcme(
      `/metrics/timeseries?stream=orders.created&from=${isoMinutesAgo(31 * 1440)}&to=${isoMinutesAgo(0)}&step=1d`,
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { points: { events: number }[] };
    expect(body.points.length).toBeGreaterThan(0);
    expect(body.points.length).toBeLessThanOrEqual(32);
  });

  it("answers 404 for another tenant's stream, exactly as for a stream that does not exist", async () => {
    const range = `from=${isoMinutesAgo(60)}&to=${isoMinutesAgo(0)}&step=5m`;
    const foreign = await asAcme(`/metrics/timeseries?stream=sensor.readings&${range}`);
    const missing = await asAcme(`/metrics/timeseries?stream=no.such.stream&${range}`);
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    expect((await readProblem(foreign)).code).toBe((await readProblem(missing)).code);
  });

  it.each([
    ["more than 1,440 points", `from=${isoMinutesAgo(2000)}&to=${isoMinutesAgo(0)}&step=1m`, "query.step"],
    // 32 points but 46,080 minute rows: the span, not the point count, bounds the rows read.
    [
      "more than 31 days, even at step=1d",
      `from=${isoMinutesAgo(32 * 1440)}&to=${isoMinutesAgo(0)}&step=1d`,
      "query.to",
    ],
    ["to before from", `from=${isoMinutesAgo(0)}&to=${isoMinutesAgo(60)}&step=5m`, "query.to"],
    ["a date that is not ISO 8601", `from=yesterday&to=${isoMinutesAgo(0)}&step=5m`, "query.from"],
    ["an unknown step", `from=${isoMinutesAgo(60)}&to=${isoMinutesAgo(0)}&step=7m`, "query.step"],
  ])("refuses %s with a 400 problem", async (_label, range, path) => {
    const response = await asAcme(`/metrics/timeseries?stream=orders.created&${range}`);
    expect(response.status).toBe(400);
    const problem = await readProblem(response);
    expect((problem.errors as { path: string }[]).map((error) => error.path)).toContain(path);
  });
});

describe("GET /streams", () => {
  it("lists the caller's streams and only those", async () => {
    const response = await asAcme("/streams");
    expect(response.status).toBe(200);
    const { streams } = (await response.json()) as { streams: { name: string; last_bucket_at: string | null }[] };
    expect(streams.map((stream) => stream.name)).toEqual([...ACME_STREAMS].sort());
    expect(streams.every((stream) => stream.last_bucket_at !== null)).toBe(true);
  });
});

describe("SQL injection", () => {
  const PAYLOADS = [
    "' OR 1=1 --",
    "'; DROP TABLE metric_buckets; --",
    "1h'; DELETE FROM users; --",
    "orders.created' UNION SELECT password_hash FROM users --",
    'orders.created"; TRUNCATE streams; --',
    "$1",
    "1h) OR (1=1",
    "%27%20OR%201%3D1",
    "x'::text); select pg_sleep(5); --",
    "\\x27 OR 1=1",
  ];

  // None of these passes the schemas, so none reaches a query: this proves the refusal happens at
  // the schema, as a 400 or 404 problem. test/db/injection.test.ts sends what passes them to SQL.
  it("refuses payloads in every parameter before any query, never with a 500, writing nothing", async () => {
    const before = await tableFingerprint();
    const range = (overrides: Record<string, string>) =>
      new URLSearchParams({
        stream: "orders.created",
        from: isoMinutesAgo(60),
        to: isoMinutesAgo(0),
        step: "5m",
        ...overrides,
      }).toString();
    const paths = PAYLOADS.flatMap((payload) => [
      `/metrics/overview?${new URLSearchParams({ window: payload })}`,
      `/metrics/timeseries?${range({ stream: payload })}`,
      `/metrics/timeseries?${range({ from: payload })}`,
      `/metrics/timeseries?${range({ to: payload })}`,
      `/metrics/timeseries?${range({ step: payload })}`,
      `/streams?${new URLSearchParams({ name: payload })}`,
    ]);
    const statuses = new Set<number>();
    for (const path of paths) {
      const response = await asAcme(path);
      statuses.add(response.status);
      expect([400, 404], path).toContain(response.status);
    }
    expect(statuses.has(400)).toBe(true);
    expect(await tableFingerprint()).toEqual(before);
  });
});
