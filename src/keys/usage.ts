/**
 * Last use of each API key, at minute precision, without a write per request. Each isolate keeps
 * the minute it last saw every key id and sends only what changed, in one batch at most every
 * `flushIntervalMs`, from `waitUntil` so no request waits for it; the KeyRegistry object keeps the
 * latest minute per id. A key used a thousand times in a minute costs one entry in one batch.
 *
 * What it gives up: a batch that fails is retried with the next one, and an isolate that is evicted
 * before its next flush loses its unsent minutes, so "last used" can lag by a few minutes for a key
 * whose traffic stops; it never shows a use that did not happen.
 */
export const MINUTE_MS = 60_000;

/** `[key id, epoch ms of the minute]` pairs; the sink keeps the latest per id. */
export type UsageSink = (entries: [string, number][]) => Promise<void>;

export interface UsageRecorderOptions {
  sink: UsageSink;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** Least time between two batches of this isolate. Default 10,000. */
  flushIntervalMs?: number;
}

/** One per isolate. */
export class UsageRecorder {
  /** The minute each id was last reported for, so a repeat within the minute costs a Map lookup. */
  private readonly reported = new Map<string, number>();
  private unsent = new Map<string, number>();
  private lastFlushMs = Number.NEGATIVE_INFINITY;
  private flushing = false;
  private readonly sink: UsageSink;
  private readonly clock: () => number;
  private readonly flushIntervalMs: number;

  constructor(options: UsageRecorderOptions) {
    this.sink = options.sink;
    this.clock = options.clock ?? Date.now;
    this.flushIntervalMs = options.flushIntervalMs ?? 10_000;
  }

  record(keyId: string, waitUntil: (promise: Promise<unknown>) => void): void {
    const nowMs = this.clock();
    const minuteMs = nowMs - (nowMs % MINUTE_MS);
    if (this.reported.get(keyId) !== minuteMs) {
      this.reported.set(keyId, minuteMs);
      this.unsent.set(keyId, minuteMs);
    }
    if (this.unsent.size > 0 && !this.flushing && nowMs - this.lastFlushMs >= this.flushIntervalMs)
      waitUntil(this.flush(nowMs));
  }

  private async flush(nowMs: number): Promise<void> {
    const batch = this.unsent;
    this.unsent = new Map();
    this.flushing = true;
    this.lastFlushMs = nowMs;
    try {
      await this.sink([...batch]);
    } catch (error) {
      // Back into the next batch, unless a later minute was recorded meanwhile.
      for (const [id, minuteMs] of batch) if (!this.unsent.has(id)) this.unsent.set(id, minuteMs);
      console.error(
        JSON.stringify({
          level: "error",
          event: "key_usage_flush_failed",
          ids: batch.size,
          reason: error instanceof Error ? error.name : "error",
        }),
      );
    } finally {
      this.flushing = false;
    }
  }
}

/** Key id → the latest minute any of the usage objects holds for it (each holds what its isolates sent). */
export function mergeLastUsed(maps: readonly Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const map of maps)
    for (const [id, minuteMs] of Object.entries(map)) merged[id] = Math.max(minuteMs, merged[id] ?? 0);
  return merged;
}
