/**
 * The child processes the bench runs itself (wrangler builds, wrk), so that every way out — the
 * end, an error, Ctrl-C — can end them by their own ids. Workerd processes are not here: each
 * belongs to a Miniflare, which stops its own.
 */
import type { ChildProcess } from "node:child_process";

const running = new Map<ChildProcess, { group: boolean }>();

/**
 * `group`: the child was spawned `detached` and leads its own process group, which is ended as a
 * whole (wrangler's launcher starts the real CLI as a grandchild that would otherwise live on).
 */
export function track<Child extends ChildProcess>(child: Child, { group = false } = {}): Child {
  running.set(child, { group });
  child.once("exit", () => running.delete(child));
  return child;
}

/** Synchronous, so it can run in an exit handler. */
export function killChildren(): void {
  for (const [child, { group }] of running) {
    if (child.pid === undefined) continue;
    try {
      process.kill(group ? -child.pid : child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
