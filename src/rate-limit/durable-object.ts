/**
 * One Durable Object per client key (`idFromName`), so every edge location counts into the same
 * place and load spreads over many objects. A Durable Object runs one event at a time and neither
 * `acquire` nor `release` awaits, so concurrent callers are served strictly one after another: no
 * two can read the same count. Window arithmetic runs on the object's own clock (window.ts says
 * why): callers send no time at all.
 *
 * It grants permits, possibly several per call (lease.ts), never past the limit, and remembers per
 * holder (one isolate's lease table) how many of its latest lease may still be unspent and when
 * that lease will have been handed back. So it can tell a client that is exhausted (every permit
 * spent: refuse until the window resets) from one whose last permits sit in leases that are about
 * to come back (refuse for a moment, no deny-cache entry). Each change of count is written through
 * to the object's SQLite storage (an evicted object resumes with the right count; only the holder
 * bookkeeping, which never admits anything, is memory-only) and mirrored in memory (no read per
 * call). An alarm at the latest window end deletes expired windows, and the object empties itself
 * when none remain, so storage stays bounded by the number of active clients.
 */
import { DurableObject } from "cloudflare:workers";
import { LEASE_TTL_MS } from "./lease.ts";
import { currentWindow, grantSize, type WindowState } from "./window.ts";

interface WindowRow extends Record<string, SqlStorageValue> {
  policy: string;
  window_start_ms: number;
  window_ms: number;
  count: number;
}

/** A holder's latest lease: permits that may still be unspent, and when they are due back. */
interface Holding {
  outstanding: number;
  dueBackAtMs: number;
}

export interface PolicyWindow extends WindowState {
  windowMs: number;
  holders: Map<string, Holding>;
}

export interface AcquireRequest {
  policy: string;
  limit: number;
  windowMs: number;
  /** The asking isolate's lease table. */
  holder: string;
  wanted: number;
  /** Unspent permits of this holder's previous lease, handed back with this call. */
  returned?: Release;
}

export interface Release {
  /** The window the permits were granted in; permits of an older window are simply dropped. */
  windowStartMs: number;
  permits: number;
}

export interface Grant {
  /** Permits granted by this call: between 0 and the number asked for. */
  granted: number;
  limit: number;
  /** Permits still ungranted in the window after this call. */
  remaining: number;
  /** Identifies the window, for handing permits back. */
  windowStartMs: number;
  /** Until the window ends and the allowance is whole again; relative, so callers' clocks do not matter. */
  resetAfterMs: number;
  /** When nothing was granted: whether every permit is spent (or lost), rather than about to come back. */
  exhausted: boolean;
  /** When nothing was granted: how long until asking again can succeed. */
  retryAfterMs: number;
}

/** How late a lease may come back after its expiry before the object counts its permits as spent. */
export const RETURN_GRACE_MS = 1_000;
/** Time after a window's end before its row is collected. */
const CLEANUP_GRACE_MS = 5_000;

export class RateLimiter extends DurableObject<Env> {
  private readonly windows = new Map<string, PolicyWindow>();
  private tableExists = false;
  /** The object's notion of now. Only the test suite replaces it (through runInDurableObject). */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.tableExists =
      ctx.storage.sql.exec("select 1 from sqlite_master where type = 'table' and name = 'windows'").toArray().length >
      0;
    if (!this.tableExists) return;
    for (const row of ctx.storage.sql.exec<WindowRow>(
      "select policy, window_start_ms, window_ms, count from windows",
    )) {
      this.windows.set(row.policy, {
        windowStartMs: row.window_start_ms,
        windowMs: row.window_ms,
        count: row.count,
        holders: new Map(),
      });
    }
  }

  /** Grants up to `wanted` permits under `policy` to `holder`, after taking back what it returns. */
  acquire({ policy, limit, windowMs, holder, wanted, returned }: AcquireRequest): Grant {
    const nowMs = this.clock();
    const window = this.windowAt(policy, windowMs, nowMs);
    const countBefore = window.count;
    if (returned !== undefined) this.takeBack(window, returned, holder);

    const liveHolders = [...window.holders].filter(
      ([id, holding]) => id !== holder && holding.outstanding > 0 && holding.dueBackAtMs > nowMs,
    );
    const granted = grantSize(limit, window.count, wanted, liveHolders.length + 1);
    window.count += granted;
    // The asking request spends one permit at once; the rest may still be unspent later.
    window.holders.set(holder, {
      outstanding: Math.max(0, granted - 1),
      dueBackAtMs: nowMs + LEASE_TTL_MS + RETURN_GRACE_MS,
    });
    if (window.count !== countBefore) this.store(policy, window);

    const resetAfterMs = window.windowStartMs + windowMs - nowMs;
    const firstBack = Math.min(...liveHolders.map(([, holding]) => holding.dueBackAtMs));
    const exhausted = granted === 0 && liveHolders.length === 0;
    return {
      granted,
      limit,
      remaining: Math.max(0, limit - window.count),
      windowStartMs: window.windowStartMs,
      resetAfterMs,
      exhausted,
      retryAfterMs: granted > 0 ? 0 : exhausted ? resetAfterMs : Math.min(resetAfterMs, Math.max(1, firstBack - nowMs)),
    };
  }

  /** Takes back permits that were granted but will never be spent: an expired lease, a refunded attempt. */
  release(policy: string, release: Release, holder?: string): void {
    const window = this.windows.get(policy);
    if (window === undefined) return;
    if (this.takeBack(window, release, holder)) this.store(policy, window);
  }

  override async alarm(): Promise<void> {
    const nowMs = this.clock();
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
    await this.ctx.storage.setAlarm(Math.max(latestEnd, Date.now()) + CLEANUP_GRACE_MS);
  }

  private windowAt(policy: string, windowMs: number, nowMs: number): PolicyWindow {
    const stored = this.windows.get(policy);
    const previous = stored?.windowMs === windowMs ? stored : undefined;
    if (previous !== undefined && currentWindow(previous, windowMs, nowMs) === previous) return previous;
    const fresh: PolicyWindow = { ...currentWindow(undefined, windowMs, nowMs), windowMs, holders: new Map() };
    this.windows.set(policy, fresh);
    this.scheduleCleanup(fresh.windowStartMs + windowMs);
    return fresh;
  }

  /** Lowers the count by what comes back from the current window; a holder cannot return more than it may hold. */
  private takeBack(window: PolicyWindow, { windowStartMs, permits }: Release, holder: string | undefined): boolean {
    if (windowStartMs !== window.windowStartMs || !(permits > 0)) return false;
    const holding = holder === undefined ? undefined : window.holders.get(holder);
    const accepted = Math.min(
      Math.floor(permits),
      window.count,
      holding?.outstanding ?? (holder === undefined ? permits : 0),
    );
    if (accepted <= 0) return false;
    window.count -= accepted;
    if (holding !== undefined) holding.outstanding -= accepted;
    return true;
  }

  protected store(policy: string, window: PolicyWindow): void {
    if (!this.tableExists) {
      this.ctx.storage.sql.exec(
        "create table windows (policy text primary key, window_start_ms integer not null, window_ms integer not null, count integer not null)",
      );
      this.tableExists = true;
    }
    this.ctx.storage.sql.exec(
      "insert into windows (policy, window_start_ms, window_ms, count) values (?, ?, ?, ?) on conflict (policy) do update set window_start_ms = excluded.window_start_ms, window_ms = excluded.window_ms, count = excluded.count",
      policy,
      window.windowStartMs,
      window.windowMs,
      window.count,
    );
  }

  /**
   * Alarms run on the platform's clock, never earlier than its now: one set in its past would fire
   * at once and, while the object's clock disagreed (never in production; a test's may), set itself
   * again in a loop.
   */
  private scheduleCleanup(windowEndMs: number): void {
    const wanted = Math.max(windowEndMs, Date.now()) + CLEANUP_GRACE_MS;
    // Fire-and-forget inside the same event: the output gate holds the reply until it is stored.
    void this.ctx.storage.getAlarm().then((current) => {
      if (current === null || current < wanted) return this.ctx.storage.setAlarm(wanted);
    });
  }
}
