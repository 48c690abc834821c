/**
 * Runs `wrangler dev` as a child in its own process group, offline and quiet, and stops the whole
 * group: killing only the npm or wrangler parent leaves workerd holding the port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { PROJECT_ROOT } from "./migrate.ts";

export interface WranglerDevOptions {
  port: number;
  vars: Record<string, string>;
  /** `info` shows each request (development); `warn` keeps benchmarks free of logging cost. */
  logLevel?: "info" | "warn" | "error";
  inheritOutput?: boolean;
  extraEnv?: Record<string, string>;
  /** Local state directory (`--persist-to`); default `.wrangler/state`, shared with other runs in the tree. */
  persistTo?: string;
}

export interface RunningWorker {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function waitForHttp(url: string, timeoutMs: number, isReady: (response: Response) => boolean = (r) => r.ok): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (isReady(response)) return;
      lastError = new Error(`status ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms: ${String(lastError)}`);
}

export function startWranglerDev(options: WranglerDevOptions): RunningWorker {
  const args = [
    path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(options.port),
    "--show-interactive-dev-session=false",
    "--log-level",
    options.logLevel ?? "info",
    ...(options.persistTo === undefined ? [] : ["--persist-to", options.persistTo]),
    ...Object.entries(options.vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
  ];
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ["ignore", options.inheritOutput ? "inherit" : "pipe", options.inheritOutput ? "inherit" : "pipe"],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_HIDE_BANNER: "true",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      ...options.extraEnv,
    },
  });
  let exited = child.exitCode !== null;
  const exitedPromise = new Promise<void>((resolve) => child.once("exit", () => { exited = true; resolve(); }));
  return {
    url: `http://127.0.0.1:${options.port}`,
    child,
    stop: async () => {
      if (exited || child.pid === undefined) return;
      const signalGroup = (signal: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // The group is already gone.
        }
      };
      signalGroup("SIGTERM");
      const killTimer = setTimeout(() => signalGroup("SIGKILL"), 5000);
      await exitedPromise;
      clearTimeout(killTimer);
      // workerd may outlive wrangler by a moment; make sure nothing of the group remains.
      signalGroup("SIGKILL");
    },
  };
}
