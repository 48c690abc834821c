/**
 * `npm run bench [-- --rounds 5 --duration 5 --attribution --scenarios full-admitted,full-blocked]`:
 * CPU per request of the worker against a bare Hono route on the same runtime, in one run.
 *
 * Builds each worker as a deploy would, runs each instance in its own Miniflare (its own workerd),
 * loads it with wrk on 127.0.0.1 and reads that workerd process's CPU time before and after every
 * run. Scenarios run interleaved, round after round, and ratios are medians of per-round ratios:
 * on a shared two-core machine only ratios from one run mean anything, never absolute times.
 * Then a burst of 1,000 concurrent requests from one client checks that the limiter admits exactly
 * its limit. Prints a table, writes .bench/results.json, and exits non-zero if any response had an
 * unexpected status or the burst was not exact; the ratios are reported, not asserted.
 * `--attribution` adds variants of the worker that take its limiter apart, to show where the CPU goes.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { generateApiKey } from "../src/auth/api-keys.ts";
import { buildWorker, readCompatibility, type WorkerBundle } from "./bench/build.ts";
import { killChildren } from "./bench/children.ts";
import { childProcessesNamed, executableOf, filesystemOf } from "./bench/cpu.ts";
import { burst } from "./bench/exactness.ts";
import { BUNDLES, INSTANCES, type BindingContext, type BundleName, type InstanceName } from "./bench/instances.ts";
import { measure } from "./bench/measure.ts";
import { startInstance, type RunningInstance } from "./bench/miniflare.ts";
import { describeMachine, formatReport, summarise, withRatios, type BenchReport, type RoundResult } from "./bench/report.ts";
import { BASELINE, EXACTNESS, SCENARIOS, type Scenario } from "./bench/scenarios.ts";
import { PROJECT_ROOT } from "./lib/migrate.ts";

const SHARED_MEMORY_DIR = "/dev/shm";

const { values: options } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "32" },
    "base-port": { type: "string", default: "8791" },
    scenarios: { type: "string" },
    attribution: { type: "boolean", default: false },
    "state-dir": { type: "string" },
    "exactness-requests": { type: "string", default: "1000" },
  },
});
const positiveInteger = (name: string, text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
};
// Durable Object storage on tmpfs by default: an fsync per request would measure this machine's
// disk, not the worker (in production the objects' storage is not in the worker's process at all).
const stateParent = options["state-dir"] ?? (existsSync(SHARED_MEMORY_DIR) ? SHARED_MEMORY_DIR : tmpdir());
const settings = {
  rounds: positiveInteger("rounds", options.rounds),
  durationSeconds: positiveInteger("duration", options.duration),
  warmupSeconds: positiveInteger("warmup", options.warmup),
  connections: positiveInteger("connections", options.connections),
  threads: 1,
  durableObjectStorage: `${stateParent} (${filesystemOf(stateParent)})`,
};
const basePort = positiveInteger("base-port", options["base-port"]);
const exactnessRequests = positiveInteger("exactness-requests", options["exactness-requests"]);

const wanted = options.scenarios?.split(",").map((name) => name.trim());
const unknown = wanted?.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name)) ?? [];
if (unknown.length > 0) throw new Error(`unknown scenarios: ${unknown.join(", ")}; known: ${SCENARIOS.map((scenario) => scenario.name).join(", ")}`);
const scenarios = SCENARIOS.filter(
  (scenario) =>
    // The baseline always runs: every ratio is relative to it.
    scenario.name === BASELINE || (wanted === undefined ? !scenario.attribution || options.attribution : wanted.includes(scenario.name)),
);
const instanceNames = new Set<InstanceName>([...scenarios.map((scenario) => scenario.instance), EXACTNESS.instance]);
const instanceSpecs = INSTANCES.filter((spec) => instanceNames.has(spec.name));

const cleanups: (() => Promise<void>)[] = [];
const temporaryDirs: string[] = [];
let stopped: Promise<void> | undefined;
let interrupted = false;

/** Stops everything started, newest first; every caller waits for the same single pass. */
function stopAll(): Promise<void> {
  stopped ??= (async () => {
    killChildren();
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`cleanup: ${String(error)}`);
      }
    }
  })();
  return stopped;
}
// Miniflare handles SIGINT and SIGTERM itself: it kills its workerd processes and exits at once,
// so an asynchronous cleanup would not get to run. Our own children (builds, wrk) and temporary
// files therefore go on exit, synchronously.
process.on("exit", () => {
  killChildren();
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping everything the bench started…`);
    // Gets to exit only while no Miniflare runs yet (e.g. during the build).
    void stopAll().then(() => process.exit(130));
  });
}

const log = (message: string) => console.error(`[bench] ${message}`);

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  const install = spawnSync("bash", [path.join(PROJECT_ROOT, "scripts", "install-system-deps.sh"), "bench"], { stdio: "inherit" });
  if (install.status !== 0) throw new Error("wrk is missing and could not be installed (scripts/install-system-deps.sh bench)");

  const workDir = mkdtempSync(path.join(stateParent, "streamforge-bench-"));
  temporaryDirs.push(workDir);

  const compatibility = readCompatibility("wrangler.toml");
  const bundleNames = [...new Set(instanceSpecs.map((spec) => spec.bundle))];
  log(`building ${bundleNames.join(", ")}…`);
  const bundles = Object.fromEntries(
    await Promise.all(bundleNames.map(async (name) => [name, await buildWorker(BUNDLES[name], path.join(workDir, "build", name), compatibility)] as const)),
  ) as Record<BundleName, WorkerBundle>;

  const keyId = "bench";
  const key = generateApiKey(keyId);
  const apiKey = { id: keyId, key, sha256Hex: createHash("sha256").update(key).digest("hex") };

  const instances = new Map<InstanceName, { instance: RunningInstance; context: BindingContext }>();
  for (const [index, spec] of instanceSpecs.entries()) {
    const context: BindingContext = { port: basePort + index, apiKey };
    const instance = await startInstance({ spec, bundle: bundles[spec.bundle], compatibility, context, persistDir: path.join(workDir, "state", spec.name) });
    cleanups.push(() => instance.dispose());
    instances.set(spec.name, { instance, context });
    log(`${spec.name}: ${instance.url} (workerd pid ${instance.pid})`);
  }
  const instanceOf = (name: InstanceName) => instances.get(name)!;

  const failures: string[] = [];
  const run = async (scenario: Scenario, durationSeconds: number, label: string) => {
    const { instance, context } = instanceOf(scenario.instance);
    const { result, problems } = await measure(scenario, { instance, headers: scenario.headers(context) }, { durationSeconds, connections: settings.connections, threads: settings.threads }, label);
    failures.push(...problems);
    return result;
  };

  log(`warming up ${scenarios.length} scenarios (${settings.warmupSeconds} s each)…`);
  for (const scenario of scenarios) await run(scenario, settings.warmupSeconds, "warm-up");

  const rounds = new Map<string, RoundResult[]>(scenarios.map((scenario) => [scenario.name, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    log(`round ${round}/${settings.rounds}…`);
    for (const scenario of scenarios) rounds.get(scenario.name)!.push(await run(scenario, settings.durationSeconds, `round ${round}`));
  }

  log(`exactness: ${exactnessRequests} concurrent requests from one client against a limit of ${EXACTNESS.limit}…`);
  const limited = instanceOf(EXACTNESS.instance);
  const exactness = await burst(`${limited.instance.url}${EXACTNESS.path}`, EXACTNESS.headers(limited.context), exactnessRequests, EXACTNESS.limit);
  if (!exactness.ok) failures.push(`exactness: admitted ${exactness.admitted} of ${exactness.requests}, expected exactly ${exactness.limit} (${JSON.stringify(exactness.statuses)})`);

  const report: BenchReport = {
    startedAt,
    machine: describeMachine(executableOf(limited.instance.pid)),
    settings,
    baseline: BASELINE,
    scenarios: withRatios(
      scenarios.map(({ name, summary, instance, path: requestPath, expectedStatus }) =>
        summarise({ name, summary, instance, path: requestPath, expectedStatus, rounds: rounds.get(name)! }),
      ),
      BASELINE,
    ),
    exactness,
    failures,
  };
  console.log(formatReport(report));
  const resultsDir = path.join(PROJECT_ROOT, ".bench");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, "results.json"), `${JSON.stringify(report, null, 2)}\n`);
  log("wrote .bench/results.json");
  return failures.length === 0 ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  if (!interrupted) console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
} finally {
  await stopAll();
}
const leftOver = childProcessesNamed("workerd");
if (leftOver.length > 0) {
  console.error(`workerd processes still running after the bench: ${leftOver.join(", ")}`);
  exitCode = 1;
}
process.exit(interrupted ? 130 : exitCode);
