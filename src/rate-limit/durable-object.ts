/**
 * One Durable Object per client key (`idFromName`), so every edge location counts into the same
 * place and load spreads over many objects. A Durable Object runs one event at a time and
 * `acquire` never awaits, so concurrent callers are served strictly one after another: no two can
 * read the same count. It grants permits, possibly several per call (lease.ts), never past the
 * limit. Each grant is written through to the object's SQLite storage (an evicted object resumes
 * with the right count) and mirrored in memory (no read per call). An alarm at the latest window
 * end deletes expired windows, and the object empties itself when none remain, so storage stays
 * bounded by the number of active clients.
 */
import { DurableObject } from "cloudflare:workers";
import { applyGrant, type Grant, type WindowState } from "./window.ts";

interface WindowRow extends Record<string, SqlStorageValue> {
  policy: string;
  window_start_ms: number;
  window_ms: number;
  count: number;
}

/** Time after a window's end before its row is collected; covers clock skew between callers and the object. */
const CLEANUP_GRACE_MS = 5_000;

export class RateLimiter extends DurableObject<Env> {
  private readonly windows = new Map<string, WindowState & { windowMs: number }>();
  private tableExists = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.tableExists = ctx.storage.sql.exec("select 1 from sqlite_master where type = 'table' and name = 'windows'").toArray().length > 0;
    if (!this.tableExists) return;
    for (const row of ctx.storage.sql.exec<WindowRow>("select policy, window_start_ms, window_ms, count from windows")) {
      this.windows.set(row.policy, { windowStartMs: row.window_start_ms, windowMs: row.window_ms, count: row.count });
    }
  }

  /** Grants up to `wanted` permits under `policy`; `nowMs` comes from the caller so one clock drives a request. */
  acquire(policy: string, limit: number, windowMs: number, nowMs: number, wanted: number): Grant {
    const previous = this.windows.get(policy);
    const { state, grant } = applyGrant(previous?.windowMs === windowMs ? previous : undefined, limit, windowMs, nowMs, wanted);
    if (grant.granted > 0) {
      this.windows.set(policy, { ...state, windowMs });
      if (!this.tableExists) {
        this.ctx.storage.sql.exec(
          "create table windows (policy text primary key, window_start_ms integer not null, window_ms integer not null, count integer not null)",
        );
        this.tableExists = true;
      }
      this.ctx.storage.sql.exec(
        "insert into windows (policy, window_start_ms, window_ms, count) values (?, ?, ?, ?) on conflict (policy) do update set window_start_ms = excluded.window_start_ms, window_ms = excluded.window_ms, count = excluded.count",
        policy,
        state.windowStartMs,
        windowMs,
        state.count,
      );
      if (state.count === grant.granted) this.scheduleCleanup(state.windowStartMs + windowMs);
    }
    return grant;
  }

  override async alarm(): Promise<void> {
    const nowMs = Date.now();
    for (const [policy, window] of this.windows) {
      if (window.windowStartMs + window.windowMs + CLEANUP_GRACE_MS <= nowMs) {
        this.windows.delete(policy);
        this.ctx.storage.sql.exec("delete from windows where policy = ?", policy);
      }
    }
    if (this.windows.size === 0) {
      // Leaves nothing behind: an object per client ever seen must not cost storage forever.
      await this.ctx.storage.deleteAll();
      this.tableExists = false;
      return;
    }
    const latestEnd = Math.max(...[...this.windows.values()].map((window) => window.windowStartMs + window.windowMs));
    await this.ctx.storage.setAlarm(latestEnd + CLEANUP_GRACE_MS);
  }

  private scheduleCleanup(windowEndMs: number): void {
    const wanted = windowEndMs + CLEANUP_GRACE_MS;
    // Fire-and-forget inside the same event: the output gate holds the reply until it is stored.
    void this.ctx.storage.getAlarm().then((current) => {
      if (current === null || current < wanted) return this.ctx.storage.setAlarm(wanted);
    });
  }
}
