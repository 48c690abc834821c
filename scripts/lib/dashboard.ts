/**
 * Builds the dashboard for one API origin and serves the build the way production does: `wrangler
 * dev` of dashboard/wrangler.jsonc, so the `_headers` file (CSP and security headers) applies
 * exactly as on Workers Static Assets.
 */
import path from "node:path";
import { build, type InlineConfig } from "vite";
import { type DashboardBuildOptions, dashboardViteConfig } from "../../dashboard/build-config.ts";
import { PROJECT_ROOT } from "./migrate.ts";
import { type RunningWorker, startWranglerDev, waitForHttp } from "./wrangler-dev.ts";

export const DASHBOARD_CONFIG = path.join(PROJECT_ROOT, "dashboard", "wrangler.jsonc");

/** One production build; with `watch`, Vite keeps rebuilding on change until `close()`. */
export async function buildDashboard(
  options: DashboardBuildOptions & { watch?: boolean },
): Promise<{ close(): Promise<void> }> {
  // The options are the whole configuration: no vite.config file is looked for.
  const config: InlineConfig = { ...dashboardViteConfig(options), configFile: false };
  if (options.watch !== true) {
    await build(config);
    return { close: async () => undefined };
  }
  const watcher = await build({ ...config, build: { ...config.build, watch: {} } });
  if (!("on" in watcher)) throw new Error("vite build did not return a watcher");
  await new Promise<void>((resolve, reject) => {
    watcher.on("event", (event) => {
      if (event.code === "END") resolve();
      if (event.code === "ERROR") reject(event.error);
    });
  });
  return { close: () => watcher.close() };
}

export interface ServeDashboardOptions {
  port: number;
  /** A build directory other than dashboard/dist (the tests build per run). */
  assetsDirectory?: string;
  inheritOutput?: boolean;
}

/** `wrangler dev` of the assets site, ready when its page answers. */
export async function serveDashboard(options: ServeDashboardOptions): Promise<RunningWorker> {
  const site = await startWranglerDev({
    port: options.port,
    configPath: DASHBOARD_CONFIG,
    ...(options.assetsDirectory === undefined ? {} : { assetsDirectory: options.assetsDirectory }),
    vars: {},
    logLevel: "warn",
    ...(options.inheritOutput === undefined ? {} : { inheritOutput: options.inheritOutput }),
  });
  try {
    await waitForHttp(`${site.url}/`, 60_000);
  } catch (error) {
    await site.stop();
    throw error;
  }
  return site;
}
