/**
 * The suite's temporary files in memory where Linux offers it (/dev/shm): the Durable Objects'
 * SQLite files of every workerd runtime, the Postgres data directories and the browser profiles.
 * On disk, the objects' file creation and syncs were about a quarter of workerd's CPU in the
 * files that create thousands of limiter objects (login-limits.test.ts: 12 s → 9 s of CPU, 31 s →
 * 22 s). Elsewhere, and when the caller already chose a TMPDIR, nothing changes.
 */
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, statSync } from "node:fs";

const MEMORY_FS = "/dev/shm";
const PREFIX = `${MEMORY_FS}/streamforge-test-`;

function writableDirectory(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** Points TMPDIR, for this process and every process it starts, at a directory of its own in memory; removed on exit. */
export function useMemoryTmpdir(): void {
  if (process.env.TMPDIR !== undefined || process.platform !== "linux" || !writableDirectory(MEMORY_FS)) return;
  const dir = mkdtempSync(PREFIX);
  // Traversable but not listable: Postgres runs as its own account inside a directory made here
  // (scripts/lib/postgres.ts), and every directory made inside it is private (mkdtemp's 0700).
  chmodSync(dir, 0o711);
  process.env.TMPDIR = dir;
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
}
