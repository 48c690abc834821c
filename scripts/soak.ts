/**
 * `npm run soak [-- --duration 300 --warmup 150 --connections 8 --port 8811]` (warm-up: half the run): a bounded, mixed, realistic load
 * against the project's worker on workerd (Miniflare, as the bench runs it; loopback only) and a
 * real PostgreSQL behind the local SQL endpoint: logins, overviews, time series, stream lists,
 * 429s and bad input (scripts/soak/load.ts). Every few seconds it has every V8 isolate of the
 * workerd process collect its garbage, through workerd's inspector, and then samples the process's
 * resident memory and the worker's JavaScript heap; at the end it reports every unexpected answer
 * and whether resident memory stayed flat after warm-up. Exit status 1 when either check fails. Figures: BENCHMARKS.md ("Soak").
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { generateApiKey } from "../src/auth/api-keys.ts";
import { issueToken } from "../src/auth/tokens.ts";
import { buildWorker, readCompatibility } from "./bench/build.ts";
import { startBenchDatabases } from "./bench/databases.ts";
import {
  BENCH_PASSWORD_PEPPER,
  BENCH_TENANT,
  BENCH_TENANT_SCOPE_KEY,
  BENCH_TOKENS,
  BUNDLES,
  INSTANCES,
} from "./bench/instances.ts";
import { startInstance } from "./bench/miniflare.ts";
import { median } from "./bench/report.ts";
import { DEMO_TENANTS } from "./lib/demo-data.ts";
import { freePort } from "./lib/postgres.ts";
import { connectIsolates } from "./soak/isolates.ts";
import { type Answer, type LoadContext, sendOne } from "./soak/load.ts";
import { judgeMemory, type MemorySample, residentMiB } from "./soak/memory.ts";

const SAMPLE_EVERY_MS = 5000;
const MEMORY_TOLERANCE_PERCENT = 10;
const REQUEST_TIMEOUT_MS = 15_000;
/** Kept for the report: enough to diagnose, bounded however long the run. */
const KEPT_UNEXPECTED = 20;

const { values: options } = parseArgs({
  options: {
    duration: { type: "string", default: "300" },
    warmup: { type: "string" },
    connections: { type: "string", default: "8" },
    port: { type: "string", default: "8811" },
  },
});
const positiveInteger = (name: string, text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
};
const durationSeconds = positiveInteger("duration", options.duration);
const connections = positiveInteger("connections", options.connections);
const port = positiveInteger("port", options.port);
// Half the run: at this load the limiter objects of ~340 clients and V8's heaps took 150–300 s to
// reach their steady size (BENCHMARKS.md, "Soak"), so memory is judged only after that.
const warmupSeconds =
  options.warmup === undefined ? Math.round(durationSeconds / 2) : positiveInteger("warmup", options.warmup);

const log = (message: string) => console.error(`[soak] ${message}`);
const cleanups: (() => Promise<void>)[] = [];
const workDir = mkdtempSync(path.join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "streamforge-soak-"));
process.on("exit", () => rmSync(workDir, { recursive: true, force: true }));

async function stopAll(): Promise<void> {
  for (const cleanup of cleanups.reverse())
    await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

async function main(): Promise<number> {
  const spec = INSTANCES.find((instance) => instance.name === "main-soak")!;
  const compatibility = readCompatibility("wrangler.jsonc");
  log("building the worker…");
  const bundle = await buildWorker(BUNDLES[spec.bundle], path.join(workDir, "build"), compatibility);
  const key = generateApiKey("soak");
  const apiKey = { id: "soak", key, sha256Hex: createHash("sha256").update(key).digest("hex") };

  log("starting PostgreSQL and the local SQL endpoint…");
  const databases = await startBenchDatabases([spec.database], {
    pepper: BENCH_PASSWORD_PEPPER,
    tenantScopeKey: BENCH_TENANT_SCOPE_KEY,
    rttMs: 0,
    defer: (cleanup) => cleanups.push(cleanup),
    log,
  });
  const context = { port, apiKey, database: databases.connections[spec.database] };
  const inspectorPort = await freePort();
  const instance = await startInstance({
    spec,
    bundle,
    compatibility,
    context,
    persistDir: path.join(workDir, "state"),
    inspectorPort,
  });
  cleanups.push(() => instance.dispose());
  const isolates = await connectIsolates(inspectorPort, spec.name);
  cleanups.push(async () => isolates.close());
  log(
    `worker on ${instance.url} (workerd pid ${instance.pid}); ${connections} connections for ${durationSeconds} s, warm-up ${warmupSeconds} s`,
  );

  const user = DEMO_TENANTS.find((tenant) => tenant.slug === BENCH_TENANT)!.username;
  let token = await issueToken({ sub: user, tenant: BENCH_TENANT }, BENCH_TOKENS);
  // Renewed well inside its lifetime, as a browser app would, so no request carries an expired one.
  const renewal = setInterval(
    () => void issueToken({ sub: user, tenant: BENCH_TENANT }, BENCH_TOKENS).then((fresh) => (token = fresh)),
    60_000,
  );
  const load: LoadContext = { baseUrl: instance.url, apiKey: key, bearerToken: () => token };

  const started = performance.now();
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  // Each sample after a full collection in every isolate: memory that is still held then is
  // retained, not garbage V8 has yet to collect (scripts/soak/isolates.ts says whose and why).
  const samples: (MemorySample & { workerHeapMiB: number })[] = [];
  const sample = async () => {
    const workerHeapMiB = await isolates.collect();
    samples.push({ atSeconds: elapsedSeconds(), rssMiB: residentMiB(instance.pid), workerHeapMiB });
  };
  const deadline = started + durationSeconds * 1000;
  const sampling = (async () => {
    while (performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(SAMPLE_EVERY_MS, deadline - performance.now())));
      await sample();
    }
  })();
  // Awaited after the load; until then a failed sample must not end the process before cleanup.
  sampling.catch(() => undefined);
  const answers: (Answer & { atSeconds: number })[] = [];
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline)
        answers.push({ ...(await sendOne(load, REQUEST_TIMEOUT_MS)), atSeconds: elapsedSeconds() });
    }),
  );
  clearInterval(renewal);
  await sampling;
  const workerErrors = instance.takeErrors();

  const byKind = new Map<string, { statuses: Map<number, number>; latencies: number[] }>();
  for (const answer of answers) {
    const entry = byKind.get(answer.kind) ?? { statuses: new Map<number, number>(), latencies: [] };
    entry.statuses.set(answer.status, (entry.statuses.get(answer.status) ?? 0) + 1);
    entry.latencies.push(answer.latencyMs);
    byKind.set(answer.kind, entry);
  }
  const unexpected = answers.filter((answer) => answer.unexpected !== undefined);
  const plainRuntime500s = answers.filter((answer) => answer.plainRuntime500 === true).length;
  const memory = judgeMemory(samples, warmupSeconds, MEMORY_TOLERANCE_PERCENT);
  const report = {
    durationSeconds: Math.round(elapsedSeconds()),
    connections,
    requests: answers.length,
    requestsPerSecond: Math.round(answers.length / elapsedSeconds()),
    unexpected: unexpected.length,
    plainRuntime500s,
    firstUnexpected: unexpected
      .slice(0, KEPT_UNEXPECTED)
      .map(({ kind, atSeconds, unexpected: why }) => `${Math.round(atSeconds)} s, ${kind}: ${why}`),
    workerErrorLines: workerErrors.count,
    isolatesNotCollected: isolates.skipped,
    firstWorkerErrorLines: workerErrors.first,
    kinds: Object.fromEntries(
      [...byKind].map(([kind, { statuses, latencies }]) => {
        const sorted = latencies.sort((a, b) => a - b);
        return [
          kind,
          {
            statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
            p50Ms: Math.round(median(sorted)),
            p99Ms: Math.round(percentile(sorted, 0.99)),
          },
        ];
      }),
    ),
    memory: {
      ...memory,
      samples: samples.map(({ atSeconds, rssMiB }) => [Math.round(atSeconds), Math.round(rssMiB * 10) / 10]),
      /** The worker's own JavaScript heap after each collection, MiB: per-request state in its maps would show here. */
      workerHeapMiB: samples.map(({ atSeconds, workerHeapMiB }) => [
        Math.round(atSeconds),
        Math.round(workerHeapMiB * 100) / 100,
      ]),
    },
  };
  console.log(JSON.stringify(report, null, 2));
  log(
    `${report.requests} requests (${report.requestsPerSecond}/s), ${report.unexpected} unexpected ` +
      `(${plainRuntime500s} plain runtime 500s); workerd RSS after warm-up ${memory.afterWarmupMiB.toFixed(1)} MiB, ` +
      `min ${memory.minMiB.toFixed(1)}, max ${memory.maxMiB.toFixed(1)}, last ${memory.lastMiB.toFixed(1)} MiB: spread ${memory.spreadPercent.toFixed(1)} % ` +
      `(limit ${MEMORY_TOLERANCE_PERCENT} %), slope ${memory.slopeMiBPerMinute.toFixed(2)} MiB/min`,
  );
  return report.unexpected === 0 && plainRuntime500s === 0 && memory.flat ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
} finally {
  await stopAll();
}
process.exit(exitCode);
