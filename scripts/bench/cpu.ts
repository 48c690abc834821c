/**
 * CPU time of a server process as the kernel accounts it: utime + stime from /proc/<pid>/stat,
 * which already sums every thread of the process, plus the same for any child processes. Read
 * before and after a load run, the difference divided by the completed requests is the CPU each
 * request cost the server — steadier on a shared two-core machine than requests/s, because it
 * does not depend on how much of the CPU the load generator left over.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const MICROS_PER_TICK = 1_000_000 / CLOCK_TICKS_PER_SECOND;

/** Fields after the `(comm)` of /proc/<pid>/stat; comm may itself contain spaces or parentheses. */
function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

function childPids(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** Pids of this Node process's direct children whose command is `command` (e.g. `workerd`). */
export function childProcessesNamed(command: string): number[] {
  return childPids(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === command;
    } catch {
      return false;
    }
  });
}

/** utime + stime of `pid`, its threads and its descendants, in µs (resolution: one clock tick, 10 ms). */
export function processTreeCpuMicros(pid: number): number {
  // Fields 14 and 15 of stat(5); index 11 and 12 once pid and comm are cut off.
  const fields = statFields(pid);
  const own = (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK;
  return own + childPids(pid).reduce((sum, child) => sum + processTreeCpuMicros(child), 0);
}

/**
 * utime + stime of `pid` and its descendants, plus what descendants that already exited used
 * (cutime + cstime, added to a parent when it reaps a child), in µs. For a server that forks a
 * process per connection, as PostgreSQL does: the worker opens a connection per request, so most
 * backends live and die within one run. Exact to within the backends that exit during the read.
 */
export function serverCpuMicros(pid: number): number {
  let fields: string[];
  try {
    fields = statFields(pid);
  } catch {
    // A backend that exited since its parent listed it: its time is in the parent's cutime soon.
    return 0;
  }
  // utime, stime, cutime, cstime: fields 14–17 of stat(5).
  const own = fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * MICROS_PER_TICK;
  return own + childPids(pid).reduce((sum, child) => sum + serverCpuMicros(child), 0);
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Path of the executable a process runs, e.g. to ask the running workerd for its version. */
export function executableOf(pid: number): string {
  return readlinkSync(`/proc/${pid}/exe`);
}

/** CPU time every core spent on anything but idling, in µs (the first line of /proc/stat). */
export function machineBusyMicros(): number {
  const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks.map(Number);
  return (user + nice + system + irq + softirq + steal) * MICROS_PER_TICK;
}

/** This process's CPU time plus that of its children once they exited (wrk after each run), in µs. */
export function ownCpuMicros(): number {
  const fields = statFields(process.pid);
  // utime, stime, cutime, cstime: fields 14–17 of stat(5).
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * MICROS_PER_TICK;
}

/** File system type of the mount holding `directory` (e.g. `tmpfs`, `ext4`), from /proc/self/mounts. */
export function filesystemOf(directory: string): string {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" "))
    .filter(
      (fields) =>
        fields.length > 2 &&
        (directory === fields[1] || directory.startsWith(fields[1] === "/" ? "/" : `${fields[1]}/`)),
    );
  // The longest mount point containing the directory is the one it lives on.
  return mounts.sort((a, b) => b[1]!.length - a[1]!.length)[0]?.[2] ?? "unknown";
}
