/**
 * Runs `wrangler dev` as a child in its own process group, offline and quiet, and stops the whole
 * group: killing only the npm or wrangler parent leaves workerd holding the port.
 *
 * `superviseWranglerDev` restarts it when it dies. wrangler 4.124 (the version the test pool pins)
 * exits with "Network connection lost" when one client hangs up mid-request: a declared body that
 * never arrives, an aborted upload, an absurd Content-Length. wrangler 4.164 survives those, but
 * cannot be installed beside the pool's pin without a second workerd; until the pool moves, the
 * supervisor keeps `npm run dev` alive through them (test/scripts/wrangler-dev.test.ts).
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
  /** Another Wrangler configuration than the API's wrangler.jsonc (the dashboard's assets site). */
  configPath?: string;
  /** Serve this directory as the static assets instead of the configuration's. */
  assetsDirectory?: string;
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
    ...(options.configPath === undefined ? [] : ["--config", options.configPath]),
    ...(options.assetsDirectory === undefined ? [] : ["--assets", options.assetsDirectory]),
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
      if (child.pid === undefined) return;
      const signalGroup = (signal: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // The group is already gone.
        }
      };
      if (!exited) {
        signalGroup("SIGTERM");
        const killTimer = setTimeout(() => signalGroup("SIGKILL"), 5000);
        await exitedPromise;
        clearTimeout(killTimer);
      }
      // workerd may outlive wrangler, which may also have died on its own; nothing of the group may remain.
      signalGroup("SIGKILL");
    },
  };
}

export interface SupervisedWranglerDevOptions extends WranglerDevOptions {
  /** More exits than this within a minute is a crash loop (a broken build), not a client: give up. Default 10. */
  maxRestartsPerMinute?: number;
  /** Where restart notices go. Default `console.error`. */
  log?: (line: string) => void;
}

export interface SupervisedWorker {
  url: string;
  /** Resolves with wrangler's last exit code when the supervisor gives up; never after `stop()`. */
  gaveUp: Promise<number>;
  /** How many times wrangler has been restarted. */
  restarts(): number;
  stop(): Promise<void>;
}

/**
 * `wrangler dev`, started again on the same port (and state directory) whenever it exits on its own.
 *
 * @example const worker = superviseWranglerDev({ port: 8787, vars, inheritOutput: true });
 *          void worker.gaveUp.then((code) => process.exit(code));
 */
export function superviseWranglerDev(options: SupervisedWranglerDevOptions): SupervisedWorker {
  const maxRestartsPerMinute = options.maxRestartsPerMinute ?? 10;
  const log = options.log ?? ((line: string) => console.error(line));
  const recentExitsMs: number[] = [];
  let restartCount = 0;
  let stopping = false;
  let resolveGaveUp!: (code: number) => void;
  const gaveUp = new Promise<number>((resolve) => {
    resolveGaveUp = resolve;
  });

  const run = (): RunningWorker => {
    const running = startWranglerDev(options);
    running.child.once("exit", (code) => {
      if (stopping) return;
      // Its workerd may still hold the port: clear the whole group before starting again.
      void running.stop().then(() => {
        if (stopping) return;
        const nowMs = Date.now();
        recentExitsMs.push(nowMs);
        while (recentExitsMs[0]! < nowMs - 60_000) recentExitsMs.shift();
        if (recentExitsMs.length > maxRestartsPerMinute) {
          log(`wrangler dev exited ${recentExitsMs.length} times in a minute; giving up.`);
          resolveGaveUp(code ?? 1);
          return;
        }
        restartCount++;
        log(`wrangler dev exited (code ${code}); restarting it on ${running.url}.`);
        current = run();
      });
    });
    return running;
  };
  let current = run();

  return {
    url: current.url,
    gaveUp,
    restarts: () => restartCount,
    stop: async () => {
      stopping = true;
      await current.stop();
    },
  };
}
