/**
 * Each isolate's copy of the session families of the users it serves, so a read with a session
 * cookie costs a Map lookup, not a call. The copy is per user, fetched from that user's
 * SessionFamilies object (session-families.ts): used as is while younger than `refreshAfterMs`,
 * refreshed in the background until `maxAgeMs`, awaited after that. When a user's object cannot
 * answer within `timeoutMs` once the copy is too old, that user's session requests get a 503 until
 * it answers again; no other user's requests are touched. At most `maxUsers` copies are kept (the
 * least recently used go first) and each holds at most MAX_FAMILIES_PER_USER entries, so an
 * isolate's memory for sessions is bounded whatever the traffic.
 *
 * Reads may act on a copy up to `maxAgeMs` old, as API keys and tokens do; a refresh never does:
 * it asks the owner (session-cookie.ts), so a signed-out or rotated cookie cannot be renewed.
 */
import { stateUnavailable, withTimeout } from "./timeout.ts";

/** `[family id, current generation]` of every live family of a user. */
export type FamilySource = (subject: string) => Promise<[string, number][]>;

export interface SessionStatesOptions {
  source: FamilySource;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** Age after which a request starts a background refresh. Default 20,000. */
  refreshAfterMs?: number;
  /** Age after which a request waits for a fresh copy; at most 60,000. Default 45,000. */
  maxAgeMs?: number;
  /** How long a request waits for the user's object. Default 2,000. */
  timeoutMs?: number;
  /** Users whose copies one isolate keeps. Default 10,000. */
  maxUsers?: number;
}

interface UserCopy {
  generations: Map<string, number>;
  /** Families this isolate ended: an answer asked for before the end must not bring them back. */
  endedHere: Set<string>;
  syncedAtMs: number;
  pending: Promise<void> | undefined;
}

/** Isolate clocks disagree a little: a family this much younger than a copy may be missing from it. */
const SIGN_IN_SKEW_MS = 5_000;

/** One per isolate. */
export class SessionStates {
  private readonly copies = new Map<string, UserCopy>();
  private readonly source: FamilySource;
  private readonly clock: () => number;
  private readonly refreshAfterMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly maxUsers: number;

  constructor(options: SessionStatesOptions) {
    this.source = options.source;
    this.clock = options.clock ?? Date.now;
    this.refreshAfterMs = options.refreshAfterMs ?? 20_000;
    this.maxAgeMs = options.maxAgeMs ?? 45_000;
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.maxUsers = options.maxUsers ?? 10_000;
    if (
      !(this.refreshAfterMs > 0 && this.refreshAfterMs <= this.maxAgeMs && this.maxAgeMs <= 60_000 && this.maxUsers > 0)
    ) {
      throw new Error("session states: need 0 < refreshAfterMs <= maxAgeMs <= 60000 and maxUsers > 0");
    }
  }

  /**
   * Whether the session's family is live at this generation or a later one, by a copy at most
   * `maxAgeMs` old; throws a 503 problem when the user's object cannot bring it up to date.
   */
  async accepts(
    session: { subject: string; familyId: string; generation: number; authTimeSeconds: number },
    waitUntil: (promise: Promise<unknown>) => void,
  ): Promise<boolean> {
    const copy = this.copyOf(session.subject);
    const ageMs = this.clock() - copy.syncedAtMs;
    // A sign-in on another isolate after this copy was taken is not in it yet: ask before refusing it.
    const maybeNewer =
      !copy.generations.has(session.familyId) && copy.syncedAtMs < session.authTimeSeconds * 1000 + SIGN_IN_SKEW_MS;
    if (ageMs >= this.maxAgeMs || maybeNewer) await this.syncOrRefuse(session.subject, copy);
    else if (ageMs >= this.refreshAfterMs) waitUntil(this.sync(session.subject, copy).catch(() => undefined));
    const current = copy.generations.get(session.familyId);
    return current !== undefined && session.generation >= current;
  }

  /** A family started or rotated on this isolate: its older generations are refused here at once. */
  noteGeneration(subject: string, familyId: string, generation: number): void {
    const copy = this.copyOf(subject);
    copy.generations.set(familyId, Math.max(generation, copy.generations.get(familyId) ?? 0));
  }

  /** A family ended on this isolate (sign-out, reuse, a changed user): refused here at once. */
  noteEnded(subject: string, familyId: string): void {
    const copy = this.copyOf(subject);
    copy.generations.delete(familyId);
    copy.endedHere.add(familyId);
  }

  /** Every family of the user ended (an admin's decision): refused here at once. */
  noteAllEnded(subject: string): void {
    const copy = this.copyOf(subject);
    for (const familyId of copy.generations.keys()) copy.endedHere.add(familyId);
    copy.generations.clear();
  }

  private copyOf(subject: string): UserCopy {
    let copy = this.copies.get(subject);
    if (copy === undefined) {
      copy = { generations: new Map(), endedHere: new Set(), syncedAtMs: Number.NEGATIVE_INFINITY, pending: undefined };
    } else {
      this.copies.delete(subject);
    }
    this.copies.set(subject, copy);
    if (this.copies.size > this.maxUsers) this.copies.delete(this.copies.keys().next().value!);
    return copy;
  }

  private async syncOrRefuse(subject: string, copy: UserCopy): Promise<void> {
    try {
      await this.sync(subject, copy);
    } catch (error) {
      throw stateUnavailable({
        event: "session_state_unavailable",
        code: "session-state-unavailable",
        detail: "The session cannot be checked right now. Try again shortly.",
        error,
      });
    }
  }

  private sync(subject: string, copy: UserCopy): Promise<void> {
    copy.pending ??= (async () => {
      const askedAtMs = this.clock();
      try {
        const live = await withTimeout(this.source(subject), this.timeoutMs);
        const listed = new Set(live.map(([familyId]) => familyId));
        // Once the owner no longer lists a family it never will again: nothing left to guard against.
        for (const familyId of copy.endedHere) if (!listed.has(familyId)) copy.endedHere.delete(familyId);
        const generations = new Map<string, number>();
        for (const [familyId, generation] of live) {
          if (!copy.endedHere.has(familyId))
            generations.set(familyId, Math.max(generation, copy.generations.get(familyId) ?? 0));
        }
        copy.generations = generations;
        copy.syncedAtMs = askedAtMs;
      } finally {
        copy.pending = undefined;
      }
    })();
    return copy.pending;
  }
}
