/**
 * The dashboard's Vite configuration for a given API origin and output directory, shared by
 * `npm run dashboard:build` (vite.config.ts), `npm run dev` and the browser tests, which each build
 * for their own API origin. The origin goes both into the bundle and into the `_headers` CSP's
 * connect-src, so the two cannot disagree. The build prints its gzipped size and fails past the
 * 100 KB budget.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Plugin, UserConfig } from "vite";
import { headersFile, parseApiOrigin } from "./headers.ts";

export const DASHBOARD_ROOT = import.meta.dirname;
export const DEFAULT_OUT_DIR = path.join(DASHBOARD_ROOT, "dist");
export const GZIP_BUDGET_BYTES = 100 * 1000;

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

/** Gzipped bytes (level 9) of the files a browser loads: script, style, page and icon. */
export async function gzippedSize(outDir: string): Promise<number> {
  let total = 0;
  for (const file of await filesUnder(outDir)) {
    if (/\.(js|css|html|svg)$/.test(file)) total += gzipSync(await readFile(file), { level: 9 }).length;
  }
  return total;
}

function staticAssetsSite(apiOrigin: string, outDir: string): Plugin {
  return {
    name: "streamforge-static-assets-site",
    generateBundle() {
      this.emitFile({ type: "asset", fileName: "_headers", source: headersFile(apiOrigin) });
    },
    async closeBundle() {
      const bytes = await gzippedSize(outDir);
      console.log(
        `dashboard: API origin ${apiOrigin}; ${(bytes / 1000).toFixed(1)} KB gzipped (budget ${GZIP_BUDGET_BYTES / 1000} KB) in ${outDir}`,
      );
      if (bytes > GZIP_BUDGET_BYTES)
        throw new Error(`dashboard bundle is ${bytes} bytes gzipped, over the ${GZIP_BUDGET_BYTES}-byte budget`);
    },
  };
}

export interface DashboardBuildOptions {
  /** Serialized origin of the API the page calls, e.g. `https://api.streamforge.example`. */
  apiOrigin: string;
  /** Default `dashboard/dist`, the directory dashboard/wrangler.jsonc deploys. */
  outDir?: string;
}

export function dashboardViteConfig(options: DashboardBuildOptions): UserConfig {
  const apiOrigin = parseApiOrigin(options.apiOrigin);
  const outDir = path.resolve(options.outDir ?? DEFAULT_OUT_DIR);
  return {
    root: DASHBOARD_ROOT,
    define: { __API_ORIGIN__: JSON.stringify(apiOrigin) },
    // A data: URI would need img-src data: or font-src data: in the CSP; everything stays a file.
    build: {
      outDir,
      emptyOutDir: true,
      assetsInlineLimit: 0,
      modulePreload: { polyfill: false },
      target: "es2022",
      reportCompressedSize: false,
    },
    plugins: [staticAssetsSite(apiOrigin, outDir)],
    logLevel: "warn",
  };
}
