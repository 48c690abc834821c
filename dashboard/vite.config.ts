/**
 * Builds the dashboard into `dist/` (or DASHBOARD_OUT_DIR) for Workers Static Assets. The API's
 * origin comes from DASHBOARD_API_ORIGIN (default http://localhost:8787, the dev API) and goes
 * both into the bundle and into the `_headers` CSP's connect-src, so the two cannot disagree.
 * The build prints its gzipped size and fails past the 100 KB budget.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vite";
import { headersFile, parseApiOrigin } from "./headers.ts";

const dashboardRoot = import.meta.dirname;
export const GZIP_BUDGET_BYTES = 100 * 1000;
const apiOrigin = parseApiOrigin(process.env.DASHBOARD_API_ORIGIN ?? "http://localhost:8787");
const outDir = path.resolve(process.env.DASHBOARD_OUT_DIR ?? path.join(dashboardRoot, "dist"));

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

function staticAssetsSite(): Plugin {
  return {
    name: "streamforge-static-assets-site",
    generateBundle() {
      this.emitFile({ type: "asset", fileName: "_headers", source: headersFile(apiOrigin) });
    },
    async closeBundle() {
      let gzipBytes = 0;
      for (const file of await filesUnder(outDir)) {
        if (/\.(js|css|html|svg)$/.test(file)) gzipBytes += gzipSync(await readFile(file), { level: 9 }).length;
      }
      console.log(`dashboard: API origin ${apiOrigin}; ${(gzipBytes / 1000).toFixed(1)} KB gzipped (budget ${GZIP_BUDGET_BYTES / 1000} KB) in ${outDir}`);
      if (gzipBytes > GZIP_BUDGET_BYTES) throw new Error(`dashboard bundle is ${gzipBytes} bytes gzipped, over the ${GZIP_BUDGET_BYTES}-byte budget`);
    },
  };
}

export default defineConfig({
  root: dashboardRoot,
  define: { __API_ORIGIN__: JSON.stringify(apiOrigin) },
  // A data: URI would need img-src data: or font-src data: in the CSP; everything stays a file.
  build: { outDir, emptyOutDir: true, assetsInlineLimit: 0, modulePreload: { polyfill: false }, target: "es2022", reportCompressedSize: false },
  plugins: [staticAssetsSite()],
  logLevel: "warn",
});
