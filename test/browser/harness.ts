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
import path from "node:path";
import { promisify } from "node:util";
import type { TestHarnessOptions } from "wrangler";
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

/** The API worker from `prebuiltWorkerDir` with wrangler.jsonc's bindings, Durable Objects and assets. */
export function startApiWorker(options: {
  prebuiltWorkerDir: string;
  vars: Record<string, string>;
  secrets: Record<string, string>;
}): Promise<HarnessWorker> {
  return startHarness({ root: PROJECT_ROOT, workers: [{ configPath: API_CONFIG, ...options }] });
}
