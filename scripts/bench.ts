/**
 * `npm run bench [-- --rounds 5 --duration 5 --attribution --metrics --scenarios full-admitted,full-blocked]`:
 * CPU per request of the worker against a bare Hono route on the same runtime, in one run.
 *
 * Builds each worker as a deploy would, runs each instance in its own Miniflare (its own workerd),
 * loads it with wrk on 127.0.0.1 and reads that workerd process's CPU time before and after every
 * run. Each scenario is first warmed up, unmeasured, until it has served `--warmup-requests`
 * (default 30,000) or for `--warmup` seconds (default 20), whichever comes first. Scenarios then
 * run interleaved, round after round, and ratios are medians of per-round ratios:
 * on a shared two-core machine only ratios from one run mean anything, never absolute times.
 * Then a burst of 1,000 concurrent requests from one client checks that the limiter admits exactly
 * its limit. Prints a table, writes .bench/results.json, and exits non-zero if any response had an
 * unexpected status or the burst was not exact; the ratios are reported, not asserted.
 * `--attribution` adds variants of the worker that take its limiter apart, to show where the CPU goes.
 * `--keys` adds the worker presenting 10,000 different signed API keys in turn, compared with the
 * single legacy key of full-admitted, and each instance's start-up time and memory (keys.ts).
 * `--metrics` (or `--scenarios overview-10k,overview-10m`) adds GET /metrics/overview on ~10 k and
 * ~10 M buckets of history in a real PostgreSQL, seeded first (minutes), and prints the ratio of
 * the two with each database's query plan: the overview's cost must follow its window, not the table;
 * with it come the timeseries, streams and login scenarios on ~10 k buckets. `--db-rtt 80` holds
 * every SQL request 80 ms at the local SQL endpoint, a round trip to a distant database; the table
 * counts database round trips per request. `--metrics` also runs the tenant flood
 * (scripts/bench/tenant-flood.ts): tenant B's reads alone and while tenant A floods the overview
 * from 10,000 /64s of one /48, with A's database queries against its budget; `--tenant-flood` runs
 * it without the metrics scenarios (and only the ~10 k database). `--flood-seconds` (default 55).
 * `--isolates` runs instead the limiter across isolates (scripts/bench/isolates.ts): one client
 * routed over up to 50 isolates of the real worker sharing one RateLimiter namespace, with the
 * admitted counts and object calls per admitted request of each pattern; exits non-zero on any
 * over-admission.
 * `--registry` runs instead the registry objects at 1,000, 10,000 and 100,000 simulated isolates
 * (scripts/bench/registry.ts).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { generateApiKey } from "../src/auth/api-keys.ts";
import { buildWorker, readCompatibility, type WorkerBundle } from "./bench/build.ts";
import { killChildren } from "./bench/children.ts";
import { childProcessesNamed, executableOf, filesystemOf } from "./bench/cpu.ts";
import {
  type BenchDatabaseName,
  type BenchDatabases,
  overviewQueryIsCurrent,
  startBenchDatabases,
} from "./bench/databases.ts";
import { burst } from "./bench/exactness.ts";
import {
  BENCH_PASSWORD_PEPPER,
  BENCH_TENANT,
  BENCH_TENANT_SCOPE_KEY,
  type BindingContext,
  BUNDLES,
  type BundleName,
  INSTANCES,
  type InstanceName,
} from "./bench/instances.ts";
import { formatIsolatesTable, runIsolatesBench } from "./bench/isolates.ts";
import { firstResponses, mintSignedKeys, residentMemory, type SignedKeys, type StartupFigures } from "./bench/keys.ts";
import { measure } from "./bench/measure.ts";
import { type RunningInstance, startInstance } from "./bench/miniflare.ts";
import { formatRegistryTable, REGISTRY_BUNDLE, runRegistryBench } from "./bench/registry.ts";
import {
  type BenchReport,
  compare,
  describeMachine,
  formatReport,
  type RoundResult,
  summarise,
  withRatios,
} from "./bench/report.ts";
import { BASELINE, COMPARISONS, EXACTNESS, SCENARIOS, type Scenario } from "./bench/scenarios.ts";
import { runTenantFlood, TENANT_FLOOD_INSTANCES, type TenantFloodResult } from "./bench/tenant-flood.ts";
import { DEMO_TENANTS } from "./lib/demo-data.ts";
import { PROJECT_ROOT } from "./lib/migrate.ts";

const SHARED_MEMORY_DIR = "/dev/shm";

const { values: options } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "20" },
    "warmup-requests": { type: "string", default: "30000" },
    connections: { type: "string", default: "32" },
    "base-port": { type: "string", default: "8791" },
    scenarios: { type: "string" },
    attribution: { type: "boolean", default: false },
    metrics: { type: "boolean", default: false },
    isolates: { type: "boolean", default: false },
    registry: { type: "boolean", default: false },
    seed: { type: "string", default: "20261202" },
    keys: { type: "boolean", default: false },
    "key-count": { type: "string", default: "10000" },
    "state-dir": { type: "string" },
    "exactness-requests": { type: "string", default: "1000" },
    "db-rtt": { type: "string", default: "0" },
    "tenant-flood": { type: "boolean", default: false },
    "flood-seconds": { type: "string", default: "55" },
  },
});
const positiveInteger = (name: string, text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
};
// Durable Object storage on tmpfs by default: an fsync per request would measure this machine's
// disk, not the worker (in production the objects' storage is not in the worker's process at all).
const stateParent = options["state-dir"] ?? (existsSync(SHARED_MEMORY_DIR) ? SHARED_MEMORY_DIR : tmpdir());
const settings = {
  databaseRoundTripMs: options["db-rtt"] === "0" ? 0 : positiveInteger("db-rtt", options["db-rtt"]),
  rounds: positiveInteger("rounds", options.rounds),
  durationSeconds: positiveInteger("duration", options.duration),
  warmupSeconds: positiveInteger("warmup", options.warmup),
  warmupRequests: positiveInteger("warmup-requests", options["warmup-requests"]),
  connections: positiveInteger("connections", options.connections),
  threads: 1,
  durableObjectStorage: `${stateParent} (${filesystemOf(stateParent)})`,
};
const basePort = positiveInteger("base-port", options["base-port"]);
const exactnessRequests = positiveInteger("exactness-requests", options["exactness-requests"]);
const keyCount = positiveInteger("key-count", options["key-count"]);
const floodSeconds = positiveInteger("flood-seconds", options["flood-seconds"]);
const floodAskedFor = options.metrics || options["tenant-flood"];
// The flood must open tenant A's budget window and end inside it (tenant-flood.ts).
if (floodSeconds > 58) throw new Error("--flood-seconds must be at most 58: one budget window of a minute");

const wanted = options.scenarios?.split(",").map((name) => name.trim());
const unknown = wanted?.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name)) ?? [];
if (unknown.length > 0)
  throw new Error(
    `unknown scenarios: ${unknown.join(", ")}; known: ${SCENARIOS.map((scenario) => scenario.name).join(", ")}`,
  );
const groupsAskedFor = { attribution: options.attribution, metrics: options.metrics, keys: options.keys };
const scenarios = SCENARIOS.filter(
  (scenario) =>
    // The baseline always runs: every ratio is relative to it.
    scenario.name === BASELINE ||
    wanted?.includes(scenario.name) ||
    (scenario.group === undefined ? wanted === undefined : groupsAskedFor[scenario.group]),
);
const instanceNames = new Set<InstanceName>([
  ...scenarios.map((scenario) => scenario.instance),
  EXACTNESS.instance,
  ...(floodAskedFor ? Object.values(TENANT_FLOOD_INSTANCES) : []),
]);
const instanceSpecs = INSTANCES.filter((spec) => instanceNames.has(spec.name));
const databaseNames = [
  ...new Set(instanceSpecs.flatMap((spec): BenchDatabaseName[] => ("database" in spec ? [spec.database] : []))),
];

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

const apiKeyFor = (keyId: string) => {
  const key = generateApiKey(keyId);
  return { id: keyId, key, sha256Hex: createHash("sha256").update(key).digest("hex") };
};

async function isolatesMain(): Promise<number> {
  const workDir = mkdtempSync(path.join(stateParent, "streamforge-bench-"));
  temporaryDirs.push(workDir);
  const compatibility = readCompatibility("wrangler.jsonc");
  log("building the worker with call-counting limiter objects…");
  const bundle = await buildWorker(BUNDLES.mainCountingLimiter, path.join(workDir, "build"), compatibility);
  const seed = positiveInteger("seed", options.seed);
  const results = await runIsolatesBench({
    bundle,
    compatibility,
    basePort,
    persistDir: path.join(workDir, "state"),
    apiKeys: { plain: apiKeyFor("bench"), limited: apiKeyFor("bench-spread") },
    seed,
    log,
  });
  console.log(`limiter across isolates (seed ${seed}):\n${formatIsolatesTable(results)}`);
  const resultsDir = path.join(PROJECT_ROOT, ".bench");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    path.join(resultsDir, "isolates.json"),
    `${JSON.stringify({ startedAt: new Date().toISOString(), seed, results }, null, 2)}\n`,
  );
  const overAdmitted = results.filter((result) => result.overAdmitted > 0);
  for (const result of overAdmitted)
    console.error(
      `over-admitted: ${result.pattern} over ${result.isolates} isolates admitted ${result.admitted} of ${result.limit}`,
    );
  return overAdmitted.length === 0 ? 0 : 1;
}

async function registryMain(): Promise<number> {
  const workDir = mkdtempSync(path.join(stateParent, "streamforge-bench-"));
  temporaryDirs.push(workDir);
  const compatibility = readCompatibility("wrangler.jsonc");
  log("building the registry objects with a driver…");
  const bundle = await buildWorker(REGISTRY_BUNDLE, path.join(workDir, "build"), compatibility);
  const seed = positiveInteger("seed", options.seed);
  const rows = await runRegistryBench({
    bundle,
    compatibility,
    persistDir: path.join(workDir, "state"),
    port: basePort,
    seed,
    log,
  });
  console.log(
    `registry objects by simulated isolates (seed ${seed}, ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}):\n${formatRegistryTable(rows)}`,
  );
  return 0;
}

async function main(): Promise<number> {
  if (options.isolates) return isolatesMain();
  if (options.registry) return registryMain();
  const startedAt = new Date().toISOString();
  const install = spawnSync("bash", [path.join(PROJECT_ROOT, "scripts", "install-system-deps.sh"), "bench"], {
    stdio: "inherit",
  });
  if (install.status !== 0)
    throw new Error("wrk is missing and could not be installed (scripts/install-system-deps.sh bench)");

  const workDir = mkdtempSync(path.join(stateParent, "streamforge-bench-"));
  temporaryDirs.push(workDir);

  const compatibility = readCompatibility("wrangler.jsonc");
  const bundleNames = [...new Set(instanceSpecs.map((spec) => spec.bundle))];
  log(`building ${bundleNames.join(", ")}…`);
  const bundles = Object.fromEntries(
    await Promise.all(
      bundleNames.map(
        async (name) =>
          [name, await buildWorker(BUNDLES[name], path.join(workDir, "build", name), compatibility)] as const,
      ),
    ),
  ) as Record<BundleName, WorkerBundle>;

  const apiKey = apiKeyFor("bench");

  let signedKeys: SignedKeys | undefined;
  const keysRun = scenarios.some((scenario) => scenario.group === "keys");
  if (keysRun) {
    log(`signing ${keyCount.toLocaleString("en")} API keys…`);
    signedKeys = await mintSignedKeys(path.join(workDir, "signed-keys.txt"), keyCount, BENCH_TENANT);
    // wrk's Lua (keys.lua) reads the file named here; wrk inherits this environment.
    process.env.BENCH_KEYS_FILE = signedKeys.file;
  }

  let databases: BenchDatabases | undefined;
  if (databaseNames.length > 0) {
    log(
      `starting PostgreSQL and the local SQL endpoint (round trip ${settings.databaseRoundTripMs} ms) for ${databaseNames.join(", ")}…`,
    );
    databases = await startBenchDatabases(databaseNames, {
      pepper: BENCH_PASSWORD_PEPPER,
      tenantScopeKey: BENCH_TENANT_SCOPE_KEY,
      rttMs: settings.databaseRoundTripMs,
      defer: (cleanup) => cleanups.push(cleanup),
      log,
    });
  }

  const instances = new Map<InstanceName, { instance: RunningInstance; context: BindingContext }>();
  const startup: StartupFigures[] = [];
  for (const [index, spec] of instanceSpecs.entries()) {
    const database = "database" in spec ? databases!.connections[spec.database] : undefined;
    const context: BindingContext = {
      port: basePort + index,
      apiKey,
      ...(database === undefined ? {} : { database }),
      ...(signedKeys === undefined ? {} : { signedKeys }),
    };
    const startingAt = performance.now();
    const instance = await startInstance({
      spec,
      bundle: bundles[spec.bundle],
      compatibility,
      context,
      persistDir: path.join(workDir, "state", spec.name),
    });
    cleanups.push(() => instance.dispose());
    instances.set(spec.name, { instance, context });
    log(`${spec.name}: ${instance.url} (workerd pid ${instance.pid})`);
    // Before any other request, so the first one is the isolate's first.
    if (keysRun && (spec.name === "main" || spec.name === "main-signed-keys")) {
      const readyMillis = performance.now() - startingAt;
      const probeHeaders = { "X-API-Key": spec.name === "main" ? apiKey.key : signedKeys!.first };
      const [firstResponseMillis, secondResponseMillis] = await firstResponses(`${instance.url}/auth/me`, {
        ...probeHeaders,
        "CF-Connecting-IP": "198.18.255.1",
      });
      startup.push({
        instance: spec.name,
        readyMillis,
        firstResponseMillis,
        secondResponseMillis,
        memoryAtStart: residentMemory(instance.pid),
      });
    }
  }
  const instanceOf = (name: InstanceName) => instances.get(name)!;

  const failures: string[] = [];
  const run = async (scenario: Scenario, durationSeconds: number, label: string) => {
    const { instance, context } = instanceOf(scenario.instance);
    const target = {
      instance,
      headers: scenario.headers(context),
      ...(context.database === undefined
        ? {}
        : { databaseServerPid: databases!.serverPid, databaseRequests: () => databases!.endpoint.executedRequests }),
    };
    const load = {
      durationSeconds,
      connections: scenario.connections ?? settings.connections,
      threads: settings.threads,
    };
    const { result, problems } = await measure(scenario, target, load, label);
    failures.push(...problems);
    return result;
  };

  // By requests served, not by time: V8 optimises a function once it has run often enough, so a
  // scenario that serves half as many requests a second needs twice as long to reach the code its
  // rounds then measure. A fixed time gave the full chain half as many warm-up requests as bare.
  log(
    `warming up ${scenarios.length} scenarios (${settings.warmupRequests} requests or ${settings.warmupSeconds} s each)…`,
  );
  for (const scenario of scenarios) {
    let served = 0;
    let seconds = 0;
    for (; seconds < settings.warmupSeconds && served < settings.warmupRequests; seconds++)
      served += (await run(scenario, 1, "warm-up")).requests;
    log(`  ${scenario.name}: ${served} requests in ${seconds} s`);
  }

  const rounds = new Map<string, RoundResult[]>(scenarios.map((scenario) => [scenario.name, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    log(`round ${round}/${settings.rounds}…`);
    for (const scenario of scenarios)
      rounds.get(scenario.name)!.push(await run(scenario, settings.durationSeconds, `round ${round}`));
  }

  for (const figures of startup)
    figures.memoryAfterLoad = residentMemory(instanceOf(figures.instance as InstanceName).instance.pid);

  log(`exactness: ${exactnessRequests} concurrent requests from one client against a limit of ${EXACTNESS.limit}…`);
  const limited = instanceOf(EXACTNESS.instance);
  const exactness = await burst(
    `${limited.instance.url}${EXACTNESS.path}`,
    EXACTNESS.headers(limited.context),
    exactnessRequests,
    EXACTNESS.limit,
  );
  if (!exactness.ok)
    failures.push(
      `exactness: admitted ${exactness.admitted} of ${exactness.requests}, expected exactly ${exactness.limit} (${JSON.stringify(exactness.statuses)})`,
    );

  let tenantFlood: TenantFloodResult | undefined;
  if (floodAskedFor) {
    const [reader, elsewhere] = [
      instanceOf(TENANT_FLOOD_INSTANCES.reader),
      instanceOf(TENANT_FLOOD_INSTANCES.elsewhere),
    ];
    tenantFlood = await runTenantFlood({
      urls: { reader: reader.instance.url, elsewhere: elsewhere.instance.url },
      databaseRequests: () => databases!.endpoint.executedRequests,
      floodSeconds,
      log,
    });
    const failed = [tenantFlood.readerAlone, ...tenantFlood.floods.map((flood) => flood.readerFlooded)].reduce(
      (sum, figures) => sum + figures.failures,
      0,
    );
    if (failed > 0) failures.push(`tenant flood: ${failed} of tenant B's reads were answered other than 200`);
    for (const { instance } of [reader, elsewhere]) {
      const logged = instance.takeErrors();
      if (logged.count > 0)
        failures.push(`tenant flood: a worker logged ${logged.count} errors, e.g. ${logged.first.join(" | ")}`);
    }
  }

  let databasesReport: BenchReport["databases"];
  if (databases !== undefined) {
    log("explaining the overview's totals query in each database…");
    const plans = await databases.explainOverview(BENCH_TENANT);
    if (!overviewQueryIsCurrent())
      failures.push(
        "plans: src/db/metrics.ts no longer sends the overview query scripts/bench/databases.ts explains; copy it again",
      );
    // Every stream of the tenant × 60 minutes, the same in every database, or the comparison compares nothing.
    const expectedRows = DEMO_TENANTS.find((tenant) => tenant.slug === BENCH_TENANT)!.streams.length * 60;
    for (const { database, rowsInWindow } of plans) {
      if (rowsInWindow !== expectedRows)
        failures.push(
          `plans: ${database} has ${rowsInWindow} rows of ${BENCH_TENANT} in the window, expected ${expectedRows}`,
        );
    }
    if (Date.now() >= databases.seededUntil.getTime())
      failures.push(
        `the run outlasted the seeded data (${databases.seededUntil.toISOString()}): the window was no longer full`,
      );
    databasesReport = { seeded: databases.seeded, seededUntil: databases.seededUntil.toISOString(), plans };
  }

  const scenarioResults = withRatios(
    scenarios.map(({ name, summary, instance, path: requestPath, expectedStatus, connections }) =>
      summarise({
        name,
        summary,
        instance,
        path: requestPath,
        expectedStatus,
        connections: connections ?? settings.connections,
        rounds: rounds.get(name)!,
      }),
    ),
    BASELINE,
  );
  const report: BenchReport = {
    startedAt,
    machine: describeMachine(executableOf(limited.instance.pid)),
    settings,
    baseline: BASELINE,
    scenarios: scenarioResults,
    comparisons: compare(scenarioResults, COMPARISONS),
    ...(databasesReport === undefined ? {} : { databases: databasesReport }),
    ...(signedKeys === undefined ? {} : { keys: { count: signedKeys.count, startup } }),
    exactness,
    ...(tenantFlood === undefined ? {} : { tenantFlood }),
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
