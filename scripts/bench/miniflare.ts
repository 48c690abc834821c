/**
 * Runs one worker instance in its own Miniflare, which starts workerd directly (no wrangler
 * proxy). The load goes to a direct socket of the worker rather than Miniflare's entry URL: that
 * URL first passes every request through Miniflare's own routing worker, which cost three to five
 * times a bare Hono route here (235–375 µs against 75 µs per request) and would flatten every
 * ratio. Instances are started one at a time, so the new workerd child of this process is known to
 * belong to the instance just started.
 */
import { Miniflare } from "miniflare";
import type { Compatibility, WorkerBundle } from "./build.ts";
import { childProcessesNamed, isRunning } from "./cpu.ts";
import type { BindingContext, InstanceSpec } from "./instances.ts";

export interface RunningInstance {
  name: string;
  /** Base URL of the worker's direct socket. */
  url: string;
  /** The workerd process serving this instance, and nothing else. */
  pid: number;
  /** Error-level lines the worker logged since the last call (the first few), and how many there were. */
  takeErrors(): { count: number; first: string[] };
  dispose(): Promise<void>;
}

const KEPT_ERROR_LINES = 3;

export interface StartOptions {
  spec: InstanceSpec;
  bundle: WorkerBundle;
  compatibility: Compatibility;
  context: BindingContext;
  /** Directory for this instance's Durable Object storage; the caller removes it. */
  persistDir: string;
  /** Port of workerd's V8 inspector on 127.0.0.1, to read the worker's heap; none when omitted. */
  inspectorPort?: number;
}

/** One worker's Miniflare config: the bundle's ES modules, text bindings and SQLite-backed Durable Objects. */
export function workerConfig(worker: {
  name: string;
  bundle: WorkerBundle;
  compatibility: Compatibility;
  bindings: Record<string, string>;
  /** Binding name → exported class. */
  durableObjects: Readonly<Record<string, string>>;
}) {
  const durableObjects = Object.entries(worker.durableObjects);
  return {
    name: worker.name,
    compatibilityDate: worker.compatibility.compatibilityDate,
    compatibilityFlags: worker.compatibility.compatibilityFlags,
    manifest: {
      mainModule: worker.bundle.mainModule,
      modules: Object.fromEntries(
        Object.entries(worker.bundle.modules).map(([file, contents]) => [file, { type: "esm" as const, contents }]),
      ),
    },
    env: {
      ...Object.fromEntries(
        Object.entries(worker.bindings).map(([name, value]) => [name, { type: "text" as const, value }]),
      ),
      ...Object.fromEntries(
        durableObjects.map(([binding, className]) => [
          binding,
          { type: "durable-object" as const, worker: worker.name, exportName: className },
        ]),
      ),
    },
    exports: Object.fromEntries(
      durableObjects.map(([, className]) => [
        className,
        { type: "durable-object" as const, storage: "sqlite" as const },
      ]),
    ),
  };
}

export async function startInstance({
  spec,
  bundle,
  compatibility,
  context,
  persistDir,
  inspectorPort,
}: StartOptions): Promise<RunningInstance> {
  const workerdBefore = new Set(childProcessesNamed("workerd"));
  // The worker logs at error level only when something is wrong — e.g. the limiter did not answer
  // and a request was admitted without it — so a run with any is not the run it claims to be.
  let errors = { count: 0, first: [] as string[] };
  const miniflare = new Miniflare({
    host: "127.0.0.1",
    // Miniflare's entry socket takes any free port; the bench never loads it.
    port: 0,
    // Logging each request goes through Node and would be measured as the worker's cost.
    logRequests: false,
    resourcePersistencePath: persistDir,
    telemetry: { enabled: false },
    ...(inspectorPort === undefined ? {} : { inspectorPort, inspectorHost: "127.0.0.1" }),
    handleStructuredLogs: ({ level, message }) => {
      if (level !== "error") return;
      errors.count += 1;
      if (errors.first.length < KEPT_ERROR_LINES) errors.first.push(message);
    },
    workers: [
      {
        config: workerConfig({
          name: spec.name,
          bundle,
          compatibility,
          bindings: spec.bindings(context),
          durableObjects: spec.durableObjects ?? {},
        }),
        dev: { unsafeDirectSockets: [{ host: "127.0.0.1", port: context.port }] },
      },
    ],
  });
  try {
    await miniflare.ready;
  } catch (error) {
    await miniflare.dispose().catch(() => undefined);
    throw error;
  }
  const started = childProcessesNamed("workerd").filter((pid) => !workerdBefore.has(pid));
  if (started.length !== 1) {
    await miniflare.dispose();
    throw new Error(`${spec.name}: expected one new workerd process, found ${started.length}`);
  }
  const pid = started[0]!;
  return {
    name: spec.name,
    url: `http://127.0.0.1:${context.port}`,
    pid,
    takeErrors: () => {
      const taken = errors;
      errors = { count: 0, first: [] };
      return taken;
    },
    dispose: async () => {
      await miniflare.dispose();
      // dispose() waits for workerd to exit; if it somehow did not, end it — it is ours, by its id.
      if (isRunning(pid)) process.kill(pid, "SIGKILL");
    },
  };
}
