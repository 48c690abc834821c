/**
 * Load from wrk (Debian's package; a C program, so it takes less of the two cores than a Node
 * load generator would) and the parts of its report the bench uses. Every run goes through a Lua
 * script that receives the client addresses to use as its arguments.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { track } from "./children.ts";

export const LUA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "lua");

export interface WrkRun {
  url: string;
  headers: Record<string, string>;
  /** Lua script path; it gets `luaArgs` (after `--`) in its `init`. */
  lua: string;
  luaArgs: readonly string[];
  durationSeconds: number;
  connections: number;
  threads: number;
  /** How long one response may take before wrk counts it as a timeout. */
  timeoutSeconds: number;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMeanMicros: number;
  latencyP50Micros: number;
  latencyP99Micros: number;
  /** Responses whose status was not 2xx or 3xx. */
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

const TIME_UNITS_MICROS: Record<string, number> = { us: 1, ms: 1_000, s: 1_000_000, m: 60_000_000, h: 3_600_000_000 };

function parseDurationMicros(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`wrk: unreadable time ${JSON.stringify(text)}`);
  return Number(match[1]) * TIME_UNITS_MICROS[match[2]!]!;
}

export function parseWrkOutput(output: string): WrkResult {
  const totals = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(output);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
  // "Latency  <avg> <stdev> <max> <+/- stdev>" under "Thread Stats", not "Latency Distribution".
  const mean = /^\s+Latency\s+([\d.]+(?:us|ms|s|m|h))\s/m.exec(output);
  // wrk pads some of these lines with a trailing space.
  const p50 = /^\s+50%\s+(\S+)\s*$/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)\s*$/m.exec(output);
  if (!totals || !rate || !mean || !p50 || !p99) throw new Error(`wrk: unexpected report:\n${output}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requests: Number(totals[1]),
    seconds: parseDurationMicros(`${totals[2]}${totals[3]}`) / 1_000_000,
    requestsPerSecond: Number(rate[1]),
    latencyMeanMicros: parseDurationMicros(mean[1]!),
    latencyP50Micros: parseDurationMicros(p50[1]!),
    latencyP99Micros: parseDurationMicros(p99[1]!),
    non2xx3xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    socketErrors: {
      connect: Number(errors?.[1] ?? 0),
      read: Number(errors?.[2] ?? 0),
      write: Number(errors?.[3] ?? 0),
      timeout: Number(errors?.[4] ?? 0),
    },
  };
}

export function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.durationSeconds}s`,
    "--latency",
    // wrk's default of 2 s counts a slow response as an error; under a saturating load on two
    // shared cores a few DO-backed responses take longer, and they still count (and cost CPU).
    "--timeout",
    `${run.timeoutSeconds}s`,
    ...Object.entries(run.headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
    "-s",
    run.lua,
    run.url,
    "--",
    ...run.luaArgs,
  ];
  return new Promise((resolve, reject) => {
    const child = track(spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] }));
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    // wrk stops itself after the duration; this only guards against a hang.
    const guard = setTimeout(() => child.kill("SIGKILL"), (run.durationSeconds + run.timeoutSeconds + 15) * 1000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`wrk ${args.join(" ")} ended with ${signal ?? code}:\n${output}`));
      try {
        resolve(parseWrkOutput(output));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}
