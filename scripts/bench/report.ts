/**
 * The bench's result: per scenario the medians over its rounds and the ratio of its CPU per request
 * to the baseline's, printed as a table and kept as JSON. Ratios are medians of per-round ratios —
 * each round runs every scenario back to back, so a ratio compares runs seconds apart, never runs
 * on either side of a slow minute of the machine.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import type { ExactnessResult } from "./exactness.ts";
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
  /** CPU the rest of the machine used during the run, in cores (bench, wrk and the server excluded). */
  otherLoadCores: number;
}

export interface ScenarioResult {
  name: string;
  summary: string;
  instance: string;
  path: string;
  expectedStatus: number;
  rounds: RoundResult[];
  requestsPerSecond: number;
  latencyP50Micros: number;
  latencyP99Micros: number;
  cpuMicrosPerRequest: number;
  cpuRatioToBaseline: number;
}

export interface BenchReport {
  startedAt: string;
  machine: Machine;
  settings: { rounds: number; durationSeconds: number; warmupSeconds: number; connections: number; threads: number; durableObjectStorage: string };
  baseline: string;
  scenarios: ScenarioResult[];
  exactness?: ExactnessResult;
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
      return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n")[0]!;
    } catch (error) {
      // wrk prints its version and exits 1.
      const output = (error as { stdout?: string }).stdout ?? "";
      return output.trim().split("\n")[0] ?? "unknown";
    }
  };
  // The binary ships in an npm package (@cloudflare/workerd-<platform>) whose version is the one npm shows.
  const packageJson = path.join(path.dirname(workerdExecutable), "..", "package.json");
  const packageVersion = existsSync(packageJson) ? ` (npm ${(JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version})` : "";
  return {
    cpus: availableParallelism(),
    cpuModel,
    node: process.version,
    workerd: `${version(workerdExecutable, ["--version"])}${packageVersion}`,
    wrk: version("wrk", ["--version"]).replace(/ Copyright.*$/, ""),
  };
}

/** Summarises rounds into medians; the ratio is filled in once the baseline is known. */
export function summarise(base: Omit<ScenarioResult, "requestsPerSecond" | "latencyP50Micros" | "latencyP99Micros" | "cpuMicrosPerRequest" | "cpuRatioToBaseline">): ScenarioResult {
  const of = (pick: (round: RoundResult) => number) => median(base.rounds.map(pick));
  return {
    ...base,
    requestsPerSecond: of((round) => round.requestsPerSecond),
    latencyP50Micros: of((round) => round.latencyP50Micros),
    latencyP99Micros: of((round) => round.latencyP99Micros),
    cpuMicrosPerRequest: of((round) => round.cpuMicrosPerRequest),
    cpuRatioToBaseline: Number.NaN,
  };
}

export function withRatios(scenarios: ScenarioResult[], baselineName: string): ScenarioResult[] {
  const baseline = scenarios.find((scenario) => scenario.name === baselineName);
  if (baseline === undefined) throw new Error(`baseline ${baselineName} did not run`);
  return scenarios.map((scenario) => ({
    ...scenario,
    cpuRatioToBaseline: median(scenario.rounds.map((round, index) => round.cpuMicrosPerRequest / baseline.rounds[index]!.cpuMicrosPerRequest)),
  }));
}

function table(rows: string[][], rightAligned: (column: number) => boolean): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) => row.map((cell, column) => (rightAligned(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join("  ").trimEnd())
    .join("\n");
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : "—");

export function formatReport(report: BenchReport): string {
  const { machine, settings } = report;
  const rows = [
    ["scenario", "requests/s", "p50 ms", "p99 ms", "CPU µs/req", `× ${report.baseline}`, "other load", "CPU µs/req by round"],
    ...report.scenarios.map((scenario) => [
      scenario.name,
      fixed(scenario.requestsPerSecond, 0),
      fixed(scenario.latencyP50Micros / 1000, 2),
      fixed(scenario.latencyP99Micros / 1000, 2),
      fixed(scenario.cpuMicrosPerRequest, 1),
      fixed(scenario.cpuRatioToBaseline, 2),
      fixed(Math.max(...scenario.rounds.map((round) => round.otherLoadCores)), 2),
      scenario.rounds.map((round) => fixed(round.cpuMicrosPerRequest, 1)).join(" "),
    ]),
  ];
  const lines = [
    `machine: ${machine.cpus} CPUs, ${machine.cpuModel}; Node ${machine.node}; ${machine.workerd}; ${machine.wrk}`,
    `load: wrk -t${settings.threads} -c${settings.connections}, ${settings.rounds} rounds × ${settings.durationSeconds} s per scenario (after ${settings.warmupSeconds} s warm-up); medians; CPU = workerd utime+stime / completed requests`,
    `Durable Object storage: ${settings.durableObjectStorage}; other load = cores used by other processes during a run (highest round)`,
    "",
    table(rows, (column) => column >= 1 && column <= 6),
    "",
    ...report.scenarios.map((scenario) => `  ${scenario.name}: ${scenario.summary} (expects ${scenario.expectedStatus})`),
  ];
  if (report.exactness !== undefined) {
    const { requests, limit, admitted, statuses, ok } = report.exactness;
    const others = Object.entries(statuses)
      .filter(([status]) => status !== "200")
      .map(([status, count]) => `${status}=${count}`)
      .join(" ");
    lines.push("", `exactness: ${requests} concurrent requests from one new client, limit ${limit}: admitted=${admitted} ${others} ${ok ? "OK" : "FAILED"}`);
  }
  if (report.failures.length > 0) lines.push("", "FAILURES:", ...report.failures.map((failure) => `  ${failure}`));
  return lines.join("\n");
}
