/**
 * `npm run bench:startup [-- --runs 15 --bundle DIR --var KEY=VALUE]`: what a cold isolate costs.
 *
 * Each run starts a new Miniflare (a new workerd) with the worker as a deploy builds it, waits until
 * it is ready (process start, module parse and evaluation), then times the first request (the app
 * built from the env, `GET /health`) and a second one (warm). The bare Hono worker runs interleaved
 * with it, so "ready − bare" is the worker's own module cost, free of workerd's start-up.
 * `--bundle DIR` measures a bundle built earlier (`wrangler deploy --dry-run --outdir DIR`), e.g.
 * of another commit; `--var` adds bindings such a bundle needs. Medians; absolute times depend on
 * the machine, compare within one run.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { generateApiKey } from "../src/auth/api-keys.ts";
import { benchWorker, buildWorker, PROJECT_WORKER, readCompatibility, type WorkerBundle } from "./bench/build.ts";
import { killChildren } from "./bench/children.ts";
import { INSTANCES } from "./bench/instances.ts";
import { workerConfig } from "./bench/miniflare.ts";
import { median } from "./bench/report.ts";
import { freePort } from "./lib/postgres.ts";

const { values: options } = parseArgs({
  options: {
    runs: { type: "string", default: "15" },
    bundle: { type: "string" },
    var: { type: "string", multiple: true, default: [] },
  },
});
const runs = Number(options.runs);
if (!Number.isInteger(runs) || runs <= 0) throw new Error(`--runs must be a positive integer, got ${options.runs}`);
const extraVars = Object.fromEntries(
  options.var.map((entry) => {
    const separator = entry.indexOf("=");
    if (separator <= 0) throw new Error(`--var takes KEY=VALUE, got ${entry}`);
    return [entry.slice(0, separator), entry.slice(separator + 1)];
  }),
);

// Miniflare's entry socket: the worker sees it as the Host, which ALLOWED_HOSTS must name.
const PORT = await freePort();
const workDir = mkdtempSync(path.join(tmpdir(), "streamforge-startup-"));
process.on("exit", () => {
  killChildren();
  rmSync(workDir, { recursive: true, force: true });
});

function readBundle(directory: string): WorkerBundle {
  const files = readdirSync(directory).filter((file) => /\.m?js$/.test(file));
  const mainModule = files.find((file) => /^index\.m?js$/.test(file));
  if (mainModule === undefined) throw new Error(`${directory}: no index.js`);
  return {
    mainModule,
    modules: Object.fromEntries(files.map((file) => [file, readFileSync(path.join(directory, file), "utf8")])),
  };
}

interface Timing {
  readyMs: number;
  firstRequestMs: number;
  secondRequestMs: number;
}

async function coldStart(
  bundle: WorkerBundle,
  bindings: Record<string, string>,
  durableObjects: Record<string, string>,
): Promise<Timing> {
  const compatibility = readCompatibility("wrangler.jsonc");
  const started = performance.now();
  const miniflare = new Miniflare({
    host: "127.0.0.1",
    port: PORT,
    logRequests: false,
    telemetry: { enabled: false },
    resourcePersistencePath: path.join(workDir, "state"),
    workers: [
      {
        config: workerConfig({ name: "startup", bundle, compatibility, bindings, durableObjects }),
      },
    ],
  });
  try {
    await miniflare.ready;
    const ready = performance.now();
    const request = async () => {
      const response = await miniflare.dispatchFetch(`http://127.0.0.1:${PORT}/health`);
      if (response.status !== 200 && response.status !== 404)
        throw new Error(`GET /health answered ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    };
    await request();
    const first = performance.now();
    await request();
    const second = performance.now();
    return { readyMs: ready - started, firstRequestMs: first - ready, secondRequestMs: second - first };
  } finally {
    await miniflare.dispose();
  }
}

const compatibility = readCompatibility("wrangler.jsonc");
console.error("[startup] building…");
const worker =
  options.bundle === undefined
    ? await buildWorker(PROJECT_WORKER, path.join(workDir, "main"), compatibility)
    : readBundle(options.bundle);
const bare = await buildWorker(benchWorker("scripts/bench/workers/bare.ts"), path.join(workDir, "bare"), compatibility);
const main = INSTANCES.find((spec) => spec.name === "main")!;
const key = generateApiKey("startup");
const bindings = {
  ...main.bindings({ port: PORT, apiKey: { id: "startup", key, sha256Hex: "0".repeat(64) } }),
  ...extraVars,
};

const timings: { worker: Timing[]; bare: Timing[] } = { worker: [], bare: [] };
for (let run = 1; run <= runs; run++) {
  console.error(`[startup] run ${run}/${runs}`);
  timings.bare.push(await coldStart(bare, {}, {}));
  timings.worker.push(await coldStart(worker, bindings, main.durableObjects));
}

const summary = (list: Timing[]) => ({
  readyMs: median(list.map((timing) => timing.readyMs)),
  firstRequestMs: median(list.map((timing) => timing.firstRequestMs)),
  secondRequestMs: median(list.map((timing) => timing.secondRequestMs)),
});
const workerSummary = summary(timings.worker);
const bareSummary = summary(timings.bare);
const size = Object.values(worker.modules).reduce((total, source) => total + Buffer.byteLength(source), 0);
console.log(
  [
    `bundle: ${(size / 1024).toFixed(0)} KiB (${options.bundle ?? "built from this tree"}), ${runs} runs, medians in ms`,
    "| | ready (workerd + modules) | ready − bare | first request | second request |",
    "| --- | ---: | ---: | ---: | ---: |",
    `| worker | ${workerSummary.readyMs.toFixed(1)} | ${(workerSummary.readyMs - bareSummary.readyMs).toFixed(1)} | ${workerSummary.firstRequestMs.toFixed(1)} | ${workerSummary.secondRequestMs.toFixed(1)} |`,
    `| bare Hono | ${bareSummary.readyMs.toFixed(1)} | 0 | ${bareSummary.firstRequestMs.toFixed(1)} | ${bareSummary.secondRequestMs.toFixed(1)} |`,
  ].join("\n"),
);
