/**
 * Bundles a worker into ES modules the way a deploy does — `wrangler deploy --dry-run --outdir` —
 * so the benchmark runs the same code as production: same esbuild, same nodejs_compat polyfills.
 * The project's worker is built from its own wrangler.jsonc; the reference workers from
 * scripts/bench/wrangler.jsonc with the entry, compatibility date and flags given on the command
 * line (those of the project, read from its wrangler.jsonc). Variants of the project's worker (for
 * attributing its cost) are built from a generated entry that re-exports it with one part swapped.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { readJsonc } from "../lib/jsonc.ts";
import { PROJECT_ROOT } from "../lib/migrate.ts";
import { track } from "./children.ts";

export interface Compatibility {
  compatibilityDate: string;
  compatibilityFlags: string[];
}

export interface WorkerBundle {
  mainModule: string;
  /** File name → source of every ES module the build produced. */
  modules: Record<string, string>;
}

export interface BundleSpec {
  /** wrangler config to build with, relative to the project root. */
  config: string;
  /** Entry file; omitted, the config's `main` is used. */
  entry?: string;
  /** Source of an entry module written next to the build output and built with the project's config. */
  generatedEntry?: string;
}

const WRANGLER = path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const BENCH_WRANGLER_CONFIG = "scripts/bench/wrangler.jsonc";

/** The project's worker, exactly as `wrangler deploy` builds it. */
export const PROJECT_WORKER: BundleSpec = { config: "wrangler.jsonc" };

/** A bench-only worker under scripts/bench/workers/. */
export function benchWorker(entry: string): BundleSpec {
  return { config: BENCH_WRANGLER_CONFIG, entry };
}

/**
 * The project's worker with parts swapped, built with its wrangler.jsonc. `source` is the entry
 * module; `importPath` turns a path relative to the project root into an import specifier.
 */
export function projectVariant(source: (importPath: (relative: string) => string) => string): BundleSpec {
  return {
    config: PROJECT_WORKER.config,
    generatedEntry: source((relative) => JSON.stringify(path.join(PROJECT_ROOT, relative))),
  };
}

/** compatibility_date and compatibility_flags of a wrangler.jsonc; the only two keys the bench needs. */
export function readCompatibility(configPath: string): Compatibility {
  const config = readJsonc(path.resolve(PROJECT_ROOT, configPath)) as {
    compatibility_date?: string;
    compatibility_flags?: string[];
  };
  if (config.compatibility_date === undefined) throw new Error(`${configPath}: no compatibility_date`);
  return { compatibilityDate: config.compatibility_date, compatibilityFlags: config.compatibility_flags ?? [] };
}

/** The esbuild options a wrangler config sets; wrangler's defaults where it sets none. */
function esbuildOptions(configPath: string): { minify: boolean; keepNames: boolean } {
  const config = readJsonc(path.resolve(PROJECT_ROOT, configPath)) as { minify?: boolean; keep_names?: boolean };
  return { minify: config.minify ?? false, keepNames: config.keep_names ?? true };
}

/** A reference worker built with other esbuild options than the project's would not measure the same thing. */
function assertProjectEsbuildOptions(configPath: string): void {
  const own = esbuildOptions(configPath);
  const project = esbuildOptions(PROJECT_WORKER.config);
  if (own.minify !== project.minify || own.keepNames !== project.keepNames) {
    throw new Error(
      `${configPath}: minify ${own.minify} and keep_names ${own.keepNames}, where ${PROJECT_WORKER.config} has ${project.minify} and ${project.keepNames}`,
    );
  }
}

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, [WRANGLER, ...args], {
        cwd: PROJECT_ROOT,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          WRANGLER_SEND_METRICS: "false",
          WRANGLER_HIDE_BANNER: "true",
          CLOUDFLARE_CF_FETCH_ENABLED: "false",
        },
      }),
      { group: true },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`wrangler ${args.join(" ")} failed (${code}):\n${output}`)),
    );
  });
}

export async function buildWorker(
  spec: BundleSpec,
  outDir: string,
  compatibility: Compatibility,
): Promise<WorkerBundle> {
  assertProjectEsbuildOptions(spec.config);
  let entry = spec.entry;
  if (spec.generatedEntry !== undefined) {
    const entryDir = `${outDir}-entry`;
    mkdirSync(entryDir, { recursive: true });
    entry = path.join(entryDir, "entry.ts");
    writeFileSync(entry, spec.generatedEntry);
  }
  const args = [
    "deploy",
    // Positional first: the flags below take lists and would swallow it.
    ...(entry === undefined ? [] : [entry]),
    "--dry-run",
    "--config",
    spec.config,
    "--outdir",
    outDir,
    ...(spec.entry === undefined
      ? []
      : [
          "--compatibility-date",
          compatibility.compatibilityDate,
          ...compatibility.compatibilityFlags.map((flag) => `--compatibility-flags=${flag}`),
        ]),
  ];
  await run(args);
  const files = readdirSync(outDir).filter((file) => /\.m?js$/.test(file));
  const entryName = entry === undefined ? "index" : path.basename(entry).replace(/\.[cm]?[jt]s$/, "");
  const mainModule = files.find((file) => file.replace(/\.m?js$/, "") === entryName);
  if (mainModule === undefined)
    throw new Error(`build of ${entry ?? spec.config}: no ${entryName}.js in ${files.join(", ")}`);
  return {
    mainModule,
    modules: Object.fromEntries(files.map((file) => [file, readFileSync(path.join(outDir, file), "utf8")])),
  };
}
