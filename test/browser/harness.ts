/**
 * Workers for the browser files in wrangler's in-process test harness (`createTestHarness`) rather
 * than `wrangler dev` children: each `wrangler dev` loaded wrangler in a Node process of its own and
 * bundled the worker with esbuild, once per worker and site of every file. Here the API worker is
 * bundled once per run (`buildApiWorker`, from the global setup), and each worker or site starts
 * only a workerd. `npm run dev` and test/scripts still run and test the real `wrangler dev`.
 *
 * The harness always listens on a port of its own choosing, so a caller learns the port from
 * `listen()` and sets what depends on it (the allowed hosts) with `update()` afterwards.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { TestHarnessOptions } from "wrangler";
import { readJsonc } from "../../scripts/lib/jsonc.ts";
import { PROJECT_ROOT } from "../../scripts/lib/migrate.ts";

const run = promisify(execFile);
const API_CONFIG = path.join(PROJECT_ROOT, "wrangler.jsonc");
/**
 * As the browser files ran `wrangler dev` (scripts/lib/wrangler-dev.ts): offline (no `Request.cf`
 * lookup, no metrics), and quiet below warnings.
 */
const WRANGLER_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_LOG: "warn" };

/** The API worker as `wrangler deploy` would upload it, written to `outDir`. */
export async function buildApiWorker(outDir: string): Promise<void> {
  const wrangler = path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  await run(process.execPath, [wrangler, "deploy", "--dry-run", "--config", API_CONFIG, "--outdir", outDir], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...WRANGLER_ENV, WRANGLER_HIDE_BANNER: "true" },
  });
}

export interface HarnessWorker {
  port: number;
  /** Adds to or overrides the worker's variables, reloading it on the same port. */
  setVars(vars: Record<string, string>): Promise<void>;
  /** What the worker logged, for a failure message: the harness prints nothing itself. */
  logs(): string;
  close(): Promise<void>;
}

export async function startHarness(options: TestHarnessOptions): Promise<HarnessWorker> {
  // Wrangler reads them from this process, a test file's own, when it starts and logs.
  Object.assign(process.env, WRANGLER_ENV);
  // Imported here, not by the global setup, which only builds.
  const { createTestHarness } = await import("wrangler");
  const harness = createTestHarness(options);
  try {
    const { url } = await harness.listen();
    return {
      port: Number(url.port),
      setVars: (vars) =>
        harness.update((current) => ({
          ...current,
          workers: current.workers.map((worker) =>
            "configPath" in worker ? { ...worker, vars: { ...worker.vars, ...vars } } : worker,
          ),
        })),
      logs: () =>
        harness
          .getLogs()
          .map((log) => `${log.level}: ${log.message}`)
          .join("\n")
          .slice(-4000),
      close: () => harness.close(),
    };
  } catch (error) {
    await harness.close();
    throw error;
  }
}

/**
 * wrangler.jsonc copied into a private directory, its paths made absolute: the harness loads the
 * `.dev.vars` or `.env` beside a worker's config (or, for an inline config, in the working
 * directory), and a developer's own there, such as a database of their own, must not reach the
 * test worker. Here there is none.
 */
async function apiConfigWithoutLocalVars(): Promise<{ configPath: string; remove(): Promise<void> }> {
  const config = readJsonc(API_CONFIG) as {
    main: string;
    alias?: Record<string, string>;
    assets?: { directory: string };
    $schema?: string;
  };
  const absolute = (relative: string) => path.resolve(PROJECT_ROOT, relative);
  const { $schema: _schema, ...rest } = config;
  const copy = {
    ...rest,
    main: absolute(config.main),
    ...(config.alias === undefined
      ? {}
      : { alias: Object.fromEntries(Object.entries(config.alias).map(([name, file]) => [name, absolute(file)])) }),
    ...(config.assets === undefined
      ? {}
      : { assets: { ...config.assets, directory: absolute(config.assets.directory) } }),
  };
  const directory = await mkdtemp(path.join(tmpdir(), "streamforge-harness-"));
  const configPath = path.join(directory, "wrangler.json");
  await writeFile(configPath, JSON.stringify(copy), { mode: 0o600 });
  return { configPath, remove: () => rm(directory, { recursive: true, force: true }) };
}

/** The API worker from `prebuiltWorkerDir` with wrangler.jsonc's bindings, Durable Objects and assets. */
export async function startApiWorker(options: {
  prebuiltWorkerDir: string;
  vars: Record<string, string>;
  secrets: Record<string, string>;
}): Promise<HarnessWorker> {
  const config = await apiConfigWithoutLocalVars();
  try {
    const worker = await startHarness({ root: PROJECT_ROOT, workers: [{ configPath: config.configPath, ...options }] });
    return {
      ...worker,
      close: async () => {
        await worker.close();
        await config.remove();
      },
    };
  } catch (error) {
    await config.remove();
    throw error;
  }
}
