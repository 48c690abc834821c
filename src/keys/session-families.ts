/**
 * SessionFamilies: one Durable Object per user (`idFromName("user:" + subject)`) that owns that
 * user's dashboard sessions. A sign-in starts a family; each refresh rotates it to the next
 * generation; a sign-out ends it. The object holds only live families, at most
 * MAX_FAMILIES_PER_USER of them, so its storage is bounded per user whatever the request rate:
 * a refresh rewrites one row instead of adding a revocation, and a session is valid only while its
 * family is listed (an allowlist), so nothing has to be remembered about ended ones.
 *
 * Why families and generations rather than one revocation per session id: the revocation list grew
 * with every refresh of every user and every isolate had to hold all of it. Why this object decides
 * rotation: it is the one owner of the family, single-threaded, so "generation g may become g+1" is
 * decided once; two refreshes of one cookie cannot both win. A generation older than the current
 * one presented again is a stolen or replayed cookie: the whole family ends (refresh-token
 * rotation with reuse detection, OAuth 2.0 Security BCP §4.14). One exception, for two tabs of one
 * browser that refresh at the same moment: the generation just replaced, presented within
 * REUSE_GRACE_SECONDS of its rotation, is refused without ending the family (the loser reads the
 * new cookie the browser already holds). An attacker gains nothing from it: no new session. Why one object per user: no object
 * sits on every tenant's path, its load follows one user's activity, and when it is unreachable
 * only that user's sessions are refused.
 */
import { DurableObject } from "cloudflare:workers";

/** A user's 11th sign-in ends their oldest session (OWASP ASVS V7: limit concurrent sessions). */
export const MAX_FAMILIES_PER_USER = 10;
/** How long the generation just replaced is taken for a racing tab rather than a replay. */
export const REUSE_GRACE_SECONDS = 10;

export interface Family {
  id: string;
  tenant: string;
  generation: number;
  authTimeSeconds: number;
  /** The absolute end: no refresh moves it, so the row is dropped then at the latest. */
  endsAtSeconds: number;
}

/** What a refresh of generation `g` gets: the next generation, or why not. */
export type Rotation =
  | { outcome: "rotated"; generation: number }
  | { outcome: "superseded" }
  | { outcome: "reused" }
  | { outcome: "unknown" };

interface FamilyRow extends Record<string, SqlStorageValue> {
  id: string;
  tenant: string;
  generation: number;
  auth_s: number;
  ends_s: number;
  rotated_s: number | null;
}

const toFamily = (row: FamilyRow): Family => ({
  id: row.id,
  tenant: row.tenant,
  generation: row.generation,
  authTimeSeconds: row.auth_s,
  endsAtSeconds: row.ends_s,
});

export class SessionFamilies extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "create table if not exists families (id text primary key, tenant text not null, generation integer not null, auth_s integer not null, ends_s integer not null, rotated_s integer)",
    );
  }

  /** Starts a family at generation 1, ending the oldest ones beyond the per-user bound. */
  start(family: Omit<Family, "generation">, nowSeconds: number): Family {
    this.prune(nowSeconds);
    this.ctx.storage.sql.exec(
      "insert into families (id, tenant, generation, auth_s, ends_s) values (?, ?, 1, ?, ?)",
      family.id,
      family.tenant,
      family.authTimeSeconds,
      family.endsAtSeconds,
    );
    this.ctx.storage.sql.exec(
      "delete from families where id not in (select id from families order by auth_s desc, rowid desc limit ?)",
      MAX_FAMILIES_PER_USER,
    );
    return { ...family, generation: 1 };
  }

  /** The one decision a refresh needs; no await inside, so concurrent calls are decided one by one. */
  rotate(familyId: string, generation: number, nowSeconds: number): Rotation {
    this.prune(nowSeconds);
    const row = this.ctx.storage.sql
      .exec<FamilyRow>("select generation, rotated_s from families where id = ?", familyId)
      .toArray()[0];
    if (row === undefined) return { outcome: "unknown" };
    if (row.generation === generation + 1 && row.rotated_s !== null && nowSeconds - row.rotated_s < REUSE_GRACE_SECONDS)
      return { outcome: "superseded" };
    if (row.generation !== generation) {
      this.end(familyId);
      return { outcome: "reused" };
    }
    this.ctx.storage.sql.exec(
      "update families set generation = ?, rotated_s = ? where id = ?",
      generation + 1,
      nowSeconds,
      familyId,
    );
    return { outcome: "rotated", generation: generation + 1 };
  }

  end(familyId: string): boolean {
    return this.ctx.storage.sql.exec("delete from families where id = ?", familyId).rowsWritten > 0;
  }

  /** Ends every session of the user (an admin's decision); returns how many there were. */
  endAll(): number {
    return this.ctx.storage.sql.exec("delete from families").rowsWritten;
  }

  live(nowSeconds: number): Family[] {
    this.prune(nowSeconds);
    return this.ctx.storage.sql
      .exec<FamilyRow>("select id, tenant, generation, auth_s, ends_s from families order by auth_s, rowid")
      .toArray()
      .map(toFamily);
  }

  private prune(nowSeconds: number): void {
    this.ctx.storage.sql.exec("delete from families where ends_s <= ?", nowSeconds);
  }
}

/** The object that owns `subject`'s sessions. */
export function sessionFamilies(
  namespace: DurableObjectNamespace<SessionFamilies>,
  subject: string,
): DurableObjectStub<SessionFamilies> {
  return namespace.get(namespace.idFromName(`user:${subject}`));
}
