/**
 * The bench's result: per scenario the medians over its rounds and the ratio of its CPU per request
 * to the baseline's, printed as a table and kept as JSON; then the ratios between the pairs of
 * scenarios compared (COMPARISONS), and the seeded databases with their query plans. Ratios are
 * medians of per-round ratios — each round runs every scenario back to back, so a ratio compares
 * runs seconds apart, never runs on either side of a slow minute of the machine.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { DEMO_STREAM_COUNT } from "../lib/demo-data.ts";
import type { OverviewPlan, SeededDatabase } from "./databases.ts";
import type { ExactnessResult } from "./exactness.ts";
import type { ResidentMemory, StartupFigures } from "./keys.ts";
import { formatTenantFlood, type TenantFloodResult } from "./tenant-flood.ts";
import type { WrkResult } from "./wrk.ts";

export interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  workerd: string;
  wrk: string;
}

export interface RoundResult extends WrkResult {
  cpuMicros: number;
  cpuMicrosPerRequest: number;
  /** PostgreSQL's CPU (postmaster and every backend) per request, for scenarios with a database. */
  databaseCpuMicrosPerRequest?: number;
  /** Requests to the local SQL endpoint per completed request: the worker's database round trips. */
  databaseRoundTripsPerRequest?: number;
  /** CPU the rest of the machine used during the run, in cores (bench, wrk, the server and its database excluded). */
  otherLoadCores: number;
}

export interface ScenarioResult {
  name: string;
  summary: string;
  instance: string;
  path: string;
  expectedStatus: number;
  /** Concurrent connections of its load (wrk -c). */
  connections: number;
  rounds: RoundResult[];
  requestsPerSecond: number;
  latencyMeanMicros: number;
  latencyP50Micros: number;
  latencyP99Micros: number;
  cpuMicrosPerRequest: number;
  databaseCpuMicrosPerRequest?: number;
  databaseRoundTripsPerRequest?: number;
  cpuRatioToBaseline: number;
}

/** One pair of COMPARISONS: medians of the per-round ratios numerator / denominator. */
export interface ComparisonResult {
  numerator: string;
  denominator: string;
  claim: number;
  why: string;
  /** What the claim is checked on: time per request (default) or the worker's CPU per request. */
  judgedBy?: "time" | "cpu";
  ratios: {
    latencyP50: number;
    latencyMean: number;
    requestsPerSecond: number;
    workerdCpuPerRequest: number;
    databaseCpuPerRequest: number;
  };
}

export interface DatabasesReport {
  seeded: SeededDatabase[];
  /** The seeds end here, ahead of the run, so the window stays full while it runs. */
  seededUntil: string;
  plans: OverviewPlan[];
}

export interface BenchReport {
  startedAt: string;
  machine: Machine;
  settings: {
    rounds: number;
    durationSeconds: number;
    warmupSeconds: number;
    warmupRequests: number;
    connections: number;
    threads: number;
    durableObjectStorage: string;
    databaseRoundTripMs: number;
  };
  baseline: string;
  scenarios: ScenarioResult[];
  comparisons?: ComparisonResult[];
  databases?: DatabasesReport;
  exactness?: ExactnessResult;
  /** With `--metrics`: tenant B's reads alone and under tenant A's flood, and A's queries against its budget. */
  tenantFlood?: TenantFloodResult;
  /** With `--keys`: how many signed keys the load cycled through, and the start-up and memory of the instances compared. */
  keys?: { count: number; startup: StartupFigures[] };
  /** Everything that answered other than expected; any entry makes the bench exit non-zero. */
  failures: string[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function describeMachine(workerdExecutable: string): Machine {
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
  const version = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
        .trim()
        .split("\n")[0]!;
    } catch (error) {
      // wrk prints its version and exits 1.
      const output = (error as { stdout?: string }).stdout ?? "";
      return output.trim().split("\n")[0] ?? "unknown";
    }
  };
  // The binary ships in an npm package (@cloudflare/workerd-<platform>) whose version is the one npm shows.
  const packageJson = path.join(path.dirname(workerdExecutable), "..", "package.json");
  const packageVersion = existsSync(packageJson)
    ? ` (npm ${(JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version})`
    : "";
  return {
    cpus: availableParallelism(),
    cpuModel,
    node: process.version,
    workerd: `${version(workerdExecutable, ["--version"])}${packageVersion}`,
    wrk: version("wrk", ["--version"]).replace(/ Copyright.*$/, ""),
  };
}

/** Summarises rounds into medians; the ratio is filled in once the baseline is known. */
export function summarise(
  base: Omit<
    ScenarioResult,
    | "requestsPerSecond"
    | "latencyMeanMicros"
    | "latencyP50Micros"
    | "latencyP99Micros"
    | "cpuMicrosPerRequest"
    | "databaseCpuMicrosPerRequest"
    | "databaseRoundTripsPerRequest"
    | "cpuRatioToBaseline"
  >,
): ScenarioResult {
  const of = (pick: (round: RoundResult) => number) => median(base.rounds.map(pick));
  const withDatabase = base.rounds.every((round) => round.databaseCpuMicrosPerRequest !== undefined);
  return {
    ...base,
    requestsPerSecond: of((round) => round.requestsPerSecond),
    latencyMeanMicros: of((round) => round.latencyMeanMicros),
    latencyP50Micros: of((round) => round.latencyP50Micros),
    latencyP99Micros: of((round) => round.latencyP99Micros),
    cpuMicrosPerRequest: of((round) => round.cpuMicrosPerRequest),
    ...(withDatabase
      ? {
          databaseCpuMicrosPerRequest: of((round) => round.databaseCpuMicrosPerRequest!),
          databaseRoundTripsPerRequest: of((round) => round.databaseRoundTripsPerRequest ?? Number.NaN),
        }
      : {}),
    cpuRatioToBaseline: Number.NaN,
  };
}

export function withRatios(scenarios: ScenarioResult[], baselineName: string): ScenarioResult[] {
  const baseline = scenarios.find((scenario) => scenario.name === baselineName);
  if (baseline === undefined) throw new Error(`baseline ${baselineName} did not run`);
  return scenarios.map((scenario) => ({
    ...scenario,
    cpuRatioToBaseline: median(
      scenario.rounds.map((round, index) => round.cpuMicrosPerRequest / baseline.rounds[index]!.cpuMicrosPerRequest),
    ),
  }));
}

/** The comparisons whose two scenarios both ran. */
export function compare(
  scenarios: readonly ScenarioResult[],
  pairs: readonly Omit<ComparisonResult, "ratios">[],
): ComparisonResult[] {
  return pairs.flatMap((pair) => {
    const numerator = scenarios.find((scenario) => scenario.name === pair.numerator);
    const denominator = scenarios.find((scenario) => scenario.name === pair.denominator);
    if (numerator === undefined || denominator === undefined) return [];
    const ratio = (pick: (round: RoundResult) => number | undefined) =>
      median(
        numerator.rounds.map(
          (round, index) => (pick(round) ?? Number.NaN) / (pick(denominator.rounds[index]!) ?? Number.NaN),
        ),
      );
    return [
      {
        ...pair,
        ratios: {
          latencyP50: ratio((round) => round.latencyP50Micros),
          latencyMean: ratio((round) => round.latencyMeanMicros),
          requestsPerSecond: ratio((round) => round.requestsPerSecond),
          workerdCpuPerRequest: ratio((round) => round.cpuMicrosPerRequest),
          databaseCpuPerRequest: ratio((round) => round.databaseCpuMicrosPerRequest),
        },
      },
    ];
  });
}

function table(rows: string[][], rightAligned: (column: number) => boolean): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (rightAligned(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : "—");

const memory = ({ totalKiB, anonymousKiB, sharedKiB }: ResidentMemory) =>
  `${fixed(totalKiB / 1024, 1)} MiB (own heap ${fixed(anonymousKiB / 1024, 1)}, shared ${fixed(sharedKiB / 1024, 1)})`;

export function formatReport(report: BenchReport): string {
  const { machine, settings } = report;
  // The PostgreSQL column only when a scenario had a database.
  const withDatabase = report.scenarios.some((scenario) => scenario.databaseCpuMicrosPerRequest !== undefined);
  const rows = [
    [
      "scenario",
      "requests/s",
      "p50 ms",
      "mean ms",
      "p99 ms",
      "CPU µs/req",
      `× ${report.baseline}`,
      ...(withDatabase ? ["PG µs/req", "DB trips/req"] : []),
      "other load",
      "CPU µs/req by round",
    ],
    ...report.scenarios.map((scenario) => [
      scenario.name,
      fixed(scenario.requestsPerSecond, 0),
      fixed(scenario.latencyP50Micros / 1000, 2),
      fixed(scenario.latencyMeanMicros / 1000, 2),
      fixed(scenario.latencyP99Micros / 1000, 2),
      fixed(scenario.cpuMicrosPerRequest, 1),
      fixed(scenario.cpuRatioToBaseline, 2),
      ...(withDatabase
        ? [
            fixed(scenario.databaseCpuMicrosPerRequest ?? Number.NaN, 1),
            fixed(scenario.databaseRoundTripsPerRequest ?? Number.NaN, 2),
          ]
        : []),
      fixed(Math.max(...scenario.rounds.map((round) => round.otherLoadCores)), 2),
      scenario.rounds.map((round) => fixed(round.cpuMicrosPerRequest, 1)).join(" "),
    ]),
  ];
  const lastNumericColumn = rows[0]!.length - 2;
  const lines = [
    `machine: ${machine.cpus} CPUs, ${machine.cpuModel}; Node ${machine.node}; ${machine.workerd}; ${machine.wrk}`,
    `load: wrk -t${settings.threads} -c${settings.connections}, ${settings.rounds} rounds × ${settings.durationSeconds} s per scenario (after a warm-up of ${settings.warmupRequests} requests, at most ${settings.warmupSeconds} s); medians; CPU = workerd utime+stime / completed requests`,
    `Durable Object storage: ${settings.durableObjectStorage}; other load = cores used by other processes during a run (highest round)`,
    ...(withDatabase
      ? [
          "PG = PostgreSQL's utime+stime (postmaster, backends and backends that exited) / completed requests; DB trips = requests to the local SQL endpoint / completed requests",
          `simulated round trip between the worker and the database: ${settings.databaseRoundTripMs} ms per SQL request (--db-rtt)`,
        ]
      : []),
    "",
    table(rows, (column) => column >= 1 && column <= lastNumericColumn),
    "",
    ...report.scenarios.map(
      (scenario) =>
        `  ${scenario.name}: ${scenario.summary} (expects ${scenario.expectedStatus}${scenario.connections === settings.connections ? "" : `; -c${scenario.connections}`})`,
    ),
  ];
  for (const { numerator, denominator, claim, why, judgedBy, ratios } of report.comparisons ?? []) {
    const judged =
      judgedBy === "cpu"
        ? [ratios.workerdCpuPerRequest]
        : [ratios.latencyP50, ratios.latencyMean, 1 / ratios.requestsPerSecond];
    const verdict = judged.every((ratio) => ratio <= claim) ? `within ${claim}×` : `OVER ${claim}×`;
    lines.push(
      "",
      `${numerator} / ${denominator} (medians of per-round ratios; claim: at most ${claim}×, because ${why}):`,
      `  time per request: p50 ${fixed(ratios.latencyP50, 2)}  mean ${fixed(ratios.latencyMean, 2)}  1/(requests/s) ${fixed(1 / ratios.requestsPerSecond, 2)}${judgedBy === "cpu" ? "" : ` — ${verdict}`}`,
      `  CPU per request: workerd ${fixed(ratios.workerdCpuPerRequest, 2)}  PostgreSQL ${fixed(ratios.databaseCpuPerRequest, 2)};  requests/s ${fixed(ratios.requestsPerSecond, 2)}${judgedBy === "cpu" ? ` — ${verdict}` : ""}`,
    );
  }
  if (report.databases !== undefined) {
    const { seeded, seededUntil, plans } = report.databases;
    lines.push(
      "",
      `databases (PostgreSQL, seeded up to ${seededUntil} so the 1-hour window stays full during the run):`,
    );
    for (const database of seeded) {
      lines.push(
        `  ${database.name}: ${database.buckets.toLocaleString("en")} buckets (${database.minutesPerStream.toLocaleString("en")} minutes × ${DEMO_STREAM_COUNT} streams), seeded in ${fixed(database.seedSeconds, 1)} s`,
      );
    }
    const [first, ...others] = plans;
    if (first !== undefined) {
      const ratios = others.map(
        (plan) => `${plan.database} / ${first.database} ${fixed(plan.executionMillis / first.executionMillis, 2)}`,
      );
      lines.push(
        `  the totals query alone, on one open connection (median execution time of ${first.runs} EXPLAIN ANALYZE runs): ${plans.map((plan) => `${plan.database} ${fixed(plan.executionMillis, 3)} ms`).join(", ")}${ratios.length > 0 ? `; ${ratios.join(", ")}` : ""}`,
      );
    }
    for (const { database, tenant, window, rowsInWindow, plan } of plans) {
      lines.push(
        "",
        `EXPLAIN (ANALYZE, BUFFERS) of the overview totals, ${database}, as streamforge_metrics with app.tenant = ${tenant}, ${window.from} – ${window.to} (${rowsInWindow} rows in the window):`,
        ...plan.map((line) => `  ${line}`),
      );
    }
  }
  if (report.keys !== undefined) {
    lines.push(
      "",
      `start-up and memory (keys-signed-10k cycles through ${report.keys.count.toLocaleString("en")} signed keys; main holds one legacy key):`,
    );
    for (const figures of report.keys.startup) {
      lines.push(
        `  ${figures.instance}: ready ${fixed(figures.readyMillis, 0)} ms, first request ${fixed(figures.firstResponseMillis, 1)} ms (second ${fixed(figures.secondResponseMillis, 1)} ms); workerd resident ${memory(figures.memoryAtStart)} at start, ${figures.memoryAfterLoad === undefined ? "?" : memory(figures.memoryAfterLoad)} after the rounds`,
      );
    }
  }
  if (report.exactness !== undefined) {
    const { requests, limit, admitted, statuses, ok } = report.exactness;
    const others = Object.entries(statuses)
      .filter(([status]) => status !== "200")
      .map(([status, count]) => `${status}=${count}`)
      .join(" ");
    lines.push(
      "",
      `exactness: ${requests} concurrent requests from one new client, limit ${limit}: admitted=${admitted} ${others} ${ok ? "OK" : "FAILED"}`,
    );
  }
  if (report.tenantFlood !== undefined) lines.push("", formatTenantFlood(report.tenantFlood));
  if (report.failures.length > 0) lines.push("", "FAILURES:", ...report.failures.map((failure) => `  ${failure}`));
  return lines.join("\n");
}
