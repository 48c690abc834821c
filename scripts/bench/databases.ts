/**
 * The Postgres behind the metrics scenarios: one real PostgreSQL server (never PGlite: roles and
 * row-level security must be in force), a database per size of history, each migrated and seeded
 * with the demo set, and the local stand-in for Neon's SQL endpoint that the worker's driver reaches
 * them through, with an optional simulated round-trip time in front of every request. The worker
 * connects as its two roles, as it does in production.
 *
 * Every database is seeded to end at the same minute, SEED_LEAD_MINUTES ahead of the start: the
 * data of a minute depends only on the stream and the minute, so at any moment the overview's
 * 1-hour window holds the same, full 12 streams × 60 minutes in every database, and the databases
 * differ only in how much history lies before it — which is what the comparison is about.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type pg from "pg";
import { DEMO_STREAM_COUNT } from "../lib/demo-data.ts";
import { migrate, PROJECT_ROOT } from "../lib/migrate.ts";
import { createDatabase, type RunningPostgres, roleUrls, startPostgres } from "../lib/postgres.ts";
import { seed } from "../lib/seed.ts";
import { type SqlEndpoint, simulatedRoundTrip, startSqlEndpoint } from "../lib/sql-endpoint.ts";
import { installTenantScopeKey, SET_TENANT_SCOPE_SQL, tenantScopeParams } from "../lib/tenant-scope-key.ts";
import { median } from "./report.ts";

export const BENCH_DATABASES = {
  bench_10k: { buckets: 10_000 },
  bench_10m: { buckets: 10_000_000 },
} as const satisfies Record<string, { buckets: number }>;

export type BenchDatabaseName = keyof typeof BENCH_DATABASES;

/** What a worker instance needs to use one of them (BindingContext.database). */
export interface DatabaseConnection {
  /** As `streamforge_metrics`, the worker's DATABASE_URL. */
  metricsUrl: string;
  /** As `streamforge_auth`, the worker's AUTH_DATABASE_URL. */
  authUrl: string;
  /** LOCAL_SQL_ENDPOINT and LOCAL_SQL_SECRET. */
  sqlEndpoint: string;
  sqlSecret: string;
}

export interface SeededDatabase {
  name: BenchDatabaseName;
  buckets: number;
  minutesPerStream: number;
  seedSeconds: number;
}

export interface OverviewPlan {
  database: BenchDatabaseName;
  tenant: string;
  window: { from: string; to: string };
  /** Buckets of the bench's tenant inside the window, as the metrics role sees them. */
  rowsInWindow: number;
  /** `EXPLAIN (ANALYZE, BUFFERS)` of the overview's totals query, one line per plan line (the last of the runs). */
  plan: string[];
  /** Median "Execution Time" over `runs` runs on one connection: the query alone, without connecting. */
  executionMillis: number;
  runs: number;
}

/**
 * The SQL of `overviewTotals` in src/db/metrics.ts, copied character for character (that module
 * cannot be imported here: its types reach into the worker's runtime types). The bench checks that
 * it still is the worker's query before it trusts the plan (`overviewQueryIsCurrent`).
 */
const OVERVIEW_TOTALS_SQL = `select sum(events) as events, sum(bytes) as bytes, sum(errors) as errors,
                  count(distinct stream_id) as active_streams,
                  percentile_cont(0.95) within group (order by latency_p95_ms) as latency_p95_ms
             from metric_buckets
            where tenant_id = (select app_current_tenant_id()) and bucket_start >= $1 and bucket_start < $2`;

/** Whether src/db/metrics.ts still sends the query whose plan the bench prints. */
export function overviewQueryIsCurrent(): boolean {
  return readFileSync(path.join(PROJECT_ROOT, "src", "db", "metrics.ts"), "utf8").includes(OVERVIEW_TOTALS_SQL);
}

export interface BenchDatabases {
  connections: Record<BenchDatabaseName, DatabaseConnection>;
  seeded: SeededDatabase[];
  /** The last seeded minute: the window stays full until then. */
  seededUntil: Date;
  /** The postmaster, parent of every backend: its process tree is the server's CPU. */
  serverPid: number;
  /** The local SQL endpoint: its request count is the worker's database round trips. */
  endpoint: SqlEndpoint;
  /** The overview's totals query, explained in each database as the worker runs it. */
  explainOverview(tenant: string): Promise<OverviewPlan[]>;
}

/** Longer than any bench run: the window must not slide past the seeded data while it runs. */
const SEED_LEAD_MINUTES = 120;
const OVERVIEW_WINDOW_MS = 3_600_000;
const EXPLAIN_RUNS = 25;

/**
 * Starts the server, creates, migrates and seeds `names`, then starts the SQL endpoint in front of
 * them, which holds every request `rttMs` before running it (a round trip to a distant database);
 * `defer` receives what to stop, as soon as there is something, so an error or Ctrl-C halfway
 * leaves nothing running.
 */
export async function startBenchDatabases(
  names: readonly BenchDatabaseName[],
  {
    pepper,
    tenantScopeKey,
    rttMs,
    defer,
    log,
  }: {
    pepper: string;
    tenantScopeKey: string;
    rttMs: number;
    defer: (cleanup: () => Promise<void>) => void;
    log: (message: string) => void;
  },
): Promise<BenchDatabases> {
  const postgres = await startPostgres("postgresql");
  defer(() => postgres.stop());
  const dataDirectory = await removeOnExit(postgres);
  const sqlSecret = randomBytes(32).toString("base64url");

  const seededUntil = new Date((Math.floor(Date.now() / 60_000) + SEED_LEAD_MINUTES) * 60_000);
  const seeded: SeededDatabase[] = [];
  const roles = {} as Record<BenchDatabaseName, { metricsUrl: string; authUrl: string }>;
  for (const name of names) {
    const ownerUrl = await createDatabase(postgres.adminUrl, name);
    await migrate(ownerUrl);
    const { buckets } = BENCH_DATABASES[name];
    log(`${name}: seeding ${buckets.toLocaleString("en")} buckets…`);
    const started = performance.now();
    let reportedAt = started;
    const result = await withClient(ownerUrl, (client) =>
      seed(client, {
        buckets,
        pepper,
        now: seededUntil,
        onProgress: (done, total) => {
          if (performance.now() - reportedAt < 15_000) return;
          reportedAt = performance.now();
          log(
            `${name}: ${done.toLocaleString("en")}/${total.toLocaleString("en")} buckets after ${((reportedAt - started) / 1000).toFixed(0)} s`,
          );
        },
      }),
    );
    await withClient(ownerUrl, (client) => installTenantScopeKey(client, tenantScopeKey));
    const seedSeconds = (performance.now() - started) / 1000;
    log(
      `${name}: seeded ${result.buckets.toLocaleString("en")} buckets (${result.minutes.toLocaleString("en")} minutes × ${DEMO_STREAM_COUNT} streams) in ${seedSeconds.toFixed(1)} s`,
    );
    seeded.push({ name, buckets: result.buckets, minutesPerStream: result.minutes, seedSeconds });
    roles[name] = await roleUrls(postgres, name);
  }
  const endpoint = await startSqlEndpoint({
    connectionStrings: Object.values(roles).flatMap((urls) => [urls.metricsUrl, urls.authUrl]),
    secret: sqlSecret,
    ...(rttMs > 0 ? { beforeExecute: simulatedRoundTrip(rttMs) } : {}),
  });
  defer(() => endpoint.close());
  const connections = Object.fromEntries(
    Object.entries(roles).map(([name, urls]) => [name, { ...urls, sqlEndpoint: endpoint.url, sqlSecret }]),
  ) as Record<BenchDatabaseName, DatabaseConnection>;
  // Writes the seeds' dirty pages now, so no checkpoint runs into the measured server's CPU.
  await withClient(postgres.adminUrl, (client) => client.query("checkpoint"));

  return {
    connections,
    seeded,
    seededUntil,
    serverPid: Number(readFileSync(path.join(dataDirectory, "postmaster.pid"), "utf8").split("\n")[0]),
    endpoint,
    explainOverview: async (tenant) => {
      const plans: OverviewPlan[] = [];
      for (const name of names) {
        // The window of GET /metrics/overview?window=1h at this minute (src/routes/metrics.ts).
        const toMs = (Math.floor(Date.now() / 60_000) + 1) * 60_000;
        const window = { from: new Date(toMs - OVERVIEW_WINDOW_MS).toISOString(), to: new Date(toMs).toISOString() };
        plans.push(
          await withClient(connections[name].metricsUrl, async (client) => {
            // As src/db/client.ts scopes every request: the policies verify the tenant scope token.
            await client.query("begin read only");
            try {
              await client.query(
                SET_TENANT_SCOPE_SQL,
                tenantScopeParams(tenantScopeKey, tenant, Math.floor(Date.now() / 1000) + 60),
              );
              const counted = await client.query<{ rows: string }>(
                "select count(*) as rows from metric_buckets where tenant_id = (select app_current_tenant_id()) and bucket_start >= $1 and bucket_start < $2",
                [window.from, window.to],
              );
              let plan: string[] = [];
              const executionMillis: number[] = [];
              for (let run = 0; run < EXPLAIN_RUNS; run++) {
                // Bound parameters, as the driver sends them, so the plan is the one the worker gets.
                const explained = await client.query<{ "QUERY PLAN": string }>(
                  `explain (analyze, buffers) ${OVERVIEW_TOTALS_SQL}`,
                  [window.from, window.to],
                );
                plan = explained.rows.map((row) => row["QUERY PLAN"]);
                executionMillis.push(Number(/^Execution Time: ([\d.]+) ms$/m.exec(plan.join("\n"))?.[1]));
              }
              return {
                database: name,
                tenant,
                window,
                rowsInWindow: Number(counted.rows[0]!.rows),
                plan,
                executionMillis: median(executionMillis),
                runs: EXPLAIN_RUNS,
              };
            } finally {
              await client.query("rollback");
            }
          }),
        );
      }
      return plans;
    },
  };
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const { default: pgModule } = await import("pg");
  const client = new pgModule.Client({ connectionString: url });
  // The server going away (Ctrl-C stops it mid-seed) must fail the awaited query, not crash the
  // process with an unhandled error event before the cleanup has run.
  client.on("error", () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * The server's files are gigabytes at 10 M buckets. On Ctrl-C Miniflare exits the process at
 * once, and postgres.ts only stops the server on exit: remove its directory after that, from an
 * exit handler registered after postgres.ts's own, so it runs second. Returns the data directory.
 */
async function removeOnExit(postgres: RunningPostgres): Promise<string> {
  const { rows } = await withClient(postgres.adminUrl, (client) =>
    client.query<{ data_directory: string }>("select current_setting('data_directory') as data_directory"),
  );
  const dataDirectory = rows[0]!.data_directory;
  const serverDirectory = path.dirname(dataDirectory);
  if (!path.basename(serverDirectory).startsWith("streamforge-pg-"))
    throw new Error(`unexpected data directory ${dataDirectory}`);
  // Retries: the server may still be removing its own files as it stops.
  process.once("exit", () => rmSync(serverDirectory, { recursive: true, force: true, maxRetries: 5 }));
  return dataDirectory;
}
