/**
 * Runs `wrangler dev` as a child in its own process group, offline and quiet, and stops the whole
 * group: killing only the npm or wrangler parent leaves workerd holding the port.
 *
 * Vars and secrets reach wrangler through an env file in a private temporary directory (0700, the
 * file 0600), deleted when the worker stops: on a command line (`--var NAME:VALUE`) any local user
 * could read them with `ps`. wrangler 4.164 survives clients that hang up mid-request, so nothing
 * supervises it (test/scripts/wrangler-dev.test.ts probes it through such requests).
 *
 * The devtools inspector gets a free port of its own: wrangler's default (9229, or the next free one
 * when it looks) is a race between two `wrangler dev`s starting at once, and the loser exits with
 * "Address already in use".
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PROJECT_ROOT } from "./migrate.ts";
import { freePort } from "./postgres.ts";

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

export async function waitForHttp(
  url: string,
  timeoutMs: number,
  isReady: (response: Response) => boolean = (r) => r.ok,
): Promise<void> {
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

/**
 * Dotenv as wrangler parses it: a quoted value is taken literally, so each value gets a quote
 * character it does not contain (JSON settings hold double quotes), and every `$` is escaped, since
 * wrangler expands `$NAME` in env files. A value no quote can hold, or one with a line break, is
 * refused rather than written so that it could end its line or start another.
 */
function dotenv(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([key, value]) => {
      const quote = ["'", '"', "`"].find((candidate) => !value.includes(candidate));
      if (!/^[A-Z_][A-Z0-9_]*$/.test(key) || quote === undefined || /[\r\n]/.test(value)) {
        throw new Error(`cannot pass ${key} to wrangler dev through an env file`);
      }
      return `${key}=${quote}${value.replaceAll("$", "\\$")}${quote}\n`;
    })
    .join("");
}

function writePrivateEnvFile(vars: Record<string, string>): { file: string; remove: () => void } {
  const directory = mkdtempSync(path.join(tmpdir(), "streamforge-env-"));
  const file = path.join(directory, ".env");
  writeFileSync(file, dotenv(vars), { mode: 0o600 });
  return { file, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

export async function startWranglerDev(options: WranglerDevOptions): Promise<RunningWorker> {
  const inspectorPort = await freePort();
  const { file: envFile, remove: removeEnvFile } = writePrivateEnvFile(options.vars);
  const args = [
    path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(options.port),
    "--inspector-port",
    String(inspectorPort),
    "--show-interactive-dev-session=false",
    "--log-level",
    options.logLevel ?? "info",
    ...(options.persistTo === undefined ? [] : ["--persist-to", options.persistTo]),
    ...(options.configPath === undefined ? [] : ["--config", options.configPath]),
    ...(options.assetsDirectory === undefined ? [] : ["--assets", options.assetsDirectory]),
    "--env-file",
    envFile,
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
  const exitedPromise = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      removeEnvFile();
      resolve();
    }),
  );
  // A runner that exits without stopping the worker (a crash, process.exit) leaves no secrets behind.
  process.once("exit", removeEnvFile);
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
      removeEnvFile();
      process.removeListener("exit", removeEnvFile);
    },
  };
}
