/**
 * Resident memory of one process over a run, from /proc/<pid>/status (VmRSS), and whether it stayed
 * flat after warm-up: the soak's test for a leak in the worker (per-request state that is never
 * released: caches, limiter objects, listeners).
 */
import { readFileSync } from "node:fs";

export interface MemorySample {
  atSeconds: number;
  rssMiB: number;
}

export function residentMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("VmRSS:"));
  if (line === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(/(\d+)\s*kB/.exec(line)?.[1]) / 1024;
}

export interface MemoryVerdict {
  warmupSeconds: number;
  /** First sample after warm-up: the reference the others are compared with. */
  afterWarmupMiB: number;
  minMiB: number;
  maxMiB: number;
  lastMiB: number;
  /** (max − min) / reference, over every sample after warm-up, in percent. */
  spreadPercent: number;
  /** (last − reference) / reference, in percent. */
  growthPercent: number;
  /** Least-squares slope over the samples after warm-up, MiB per minute. */
  slopeMiBPerMinute: number;
  flat: boolean;
}

export function judgeMemory(
  samples: readonly MemorySample[],
  warmupSeconds: number,
  tolerancePercent: number,
): MemoryVerdict {
  const steady = samples.filter((sample) => sample.atSeconds >= warmupSeconds);
  if (steady.length < 2) throw new Error("too few memory samples after warm-up: run longer");
  const reference = steady[0]!.rssMiB;
  const values = steady.map((sample) => sample.rssMiB);
  const minMiB = Math.min(...values);
  const maxMiB = Math.max(...values);
  const lastMiB = values.at(-1)!;
  const meanT = steady.reduce((sum, sample) => sum + sample.atSeconds, 0) / steady.length;
  const meanM = values.reduce((sum, value) => sum + value, 0) / steady.length;
  const covariance = steady.reduce((sum, sample) => sum + (sample.atSeconds - meanT) * (sample.rssMiB - meanM), 0);
  const variance = steady.reduce((sum, sample) => sum + (sample.atSeconds - meanT) ** 2, 0);
  const spreadPercent = ((maxMiB - minMiB) / reference) * 100;
  return {
    warmupSeconds,
    afterWarmupMiB: reference,
    minMiB,
    maxMiB,
    lastMiB,
    spreadPercent,
    growthPercent: ((lastMiB - reference) / reference) * 100,
    slopeMiBPerMinute: (covariance / variance) * 60,
    flat: spreadPercent <= tolerancePercent,
  };
}
