/**
 * KeyRegistry: one Durable Object class in three roles, each an object of its own name.
 * - `global`: which signed keys were issued (id, tenant, scopes, rate limit, when; never the key or
 *   its MAC), so an id is issued once and a key id alone leads to its tenant, and the single
 *   revocation list of earlier versions until an operator moves it (`legacyRevocations`). Only
 *   admin routes call it; no request's credential check does.
 * - `revocations:<tenant>`, one per tenant: that tenant's revoked credentials (one entry per key
 *   id, user or the tenant itself: bounded by keys and users, not by requests). Isolates ask it for
 *   new entries through their data center's cache (colo-cache.ts) when a credential of that tenant
 *   is checked (revocations.ts).
 * - `usage:<n>`, USAGE_SHARDS of them: the minute each key id was last used.
 * Dashboard sessions live elsewhere (session-families.ts). Workers verify keys without any of these.
 *
 * Why one revocation object per tenant rather than a fixed number of shards keyed by tenant: an
 * unreachable object then refuses exactly one tenant's credentials, never a slice of unrelated
 * tenants, and an object's load and size follow one tenant's keys, users and isolates; a tenant
 * nobody uses costs nothing (an object that is never called is never created). A fixed count would
 * bound the number of objects, which nothing here needs. SQLite-backed: lists and usage survive
 * eviction and redeploys.
 */
import { DurableObject } from "cloudflare:workers";
import type { ApiKeyScope } from "../auth/api-keys.ts";
import { REVOCATION_PAGE_ENTRIES, type Revocation, type RevocationBatch, type RevocationKind } from "./revocations.ts";

export interface IssuedKey {
  id: string;
  tenant: string;
  scopes: ApiKeyScope[];
  rateLimit?: string;
  /** The signing secret it was signed under. */
  kid: string;
  createdAtMs: number;
}

export interface RegistrySnapshot {
  keys: IssuedKey[];
  /** Key id → epoch ms of the minute it was last used. */
  lastUsedMs: Record<string, number>;
}

interface KeyRow extends Record<string, SqlStorageValue> {
  id: string;
  tenant: string;
  scopes: string;
  rate_limit: string | null;
  kid: string;
  created_ms: number;
}

/** Entries moved per admin call: each is one call to its tenant's object and at most one database read. */
const LEGACY_PAGE_ENTRIES = 100;

interface RevocationRow extends Record<string, SqlStorageValue> {
  seq: number;
  kind: string;
  subject: string;
  revoked_ms: number;
}

const toRevocation = (row: RevocationRow): Revocation => ({
  seq: row.seq,
  kind: row.kind as RevocationKind,
  subject: row.subject,
  revokedAtMs: row.revoked_ms,
});

export class KeyRegistry extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      create table if not exists issued_keys (id text primary key, tenant text not null, scopes text not null, rate_limit text, kid text not null, created_ms integer not null);
      create index if not exists issued_keys_by_tenant on issued_keys (tenant);
      create table if not exists revocations (seq integer primary key autoincrement, kind text not null, subject text not null, revoked_ms integer not null);
      create index if not exists revocations_by_kind_and_age on revocations (kind, revoked_ms);
      create table if not exists key_usage (id text primary key, last_used_ms integer not null);
      delete from revocations where kind = 'session';
    `);
  }

  /** Records a newly issued key; false when the id was ever issued before (ids are never reused). */
  register(key: IssuedKey): boolean {
    if (this.hasKey(key.id)) return false;
    this.ctx.storage.sql.exec(
      "insert into issued_keys (id, tenant, scopes, rate_limit, kid, created_ms) values (?, ?, ?, ?, ?, ?)",
      key.id,
      key.tenant,
      JSON.stringify(key.scopes),
      key.rateLimit ?? null,
      key.kid,
      key.createdAtMs,
    );
    return true;
  }

  hasKey(id: string): boolean {
    return this.tenantOfKey(id) !== null;
  }

  /** The tenant an issued key belongs to; null when the id was never issued. */
  tenantOfKey(id: string): string | null {
    return (
      this.ctx.storage.sql.exec<{ tenant: string }>("select tenant from issued_keys where id = ?", id).toArray()[0]
        ?.tenant ?? null
    );
  }

  /** A newer revocation of the same subject replaces the older one: later is stricter for every kind. */
  revoke(kind: RevocationKind, subject: string, revokedAtMs: number): Revocation {
    const held = this.ctx.storage.sql
      .exec<RevocationRow>(
        "select seq, kind, subject, revoked_ms from revocations where kind = ? and subject = ?",
        kind,
        subject,
      )
      .toArray()[0];
    if (held !== undefined && (kind === "key" || held.revoked_ms >= revokedAtMs)) return toRevocation(held);
    this.ctx.storage.sql.exec("delete from revocations where kind = ? and subject = ?", kind, subject);
    const row = this.ctx.storage.sql
      .exec<RevocationRow>(
        "insert into revocations (kind, subject, revoked_ms) values (?, ?, ?) returning seq, kind, subject, revoked_ms",
        kind,
        subject,
        revokedAtMs,
      )
      .one();
    return toRevocation(row);
  }

  /** One page of the entries after `afterSeq`, in order; `more` says whether another page follows. */
  revocationsSince(afterSeq: number): RevocationBatch {
    const rows = this.ctx.storage.sql
      .exec<RevocationRow>(
        "select seq, kind, subject, revoked_ms from revocations where seq > ? order by seq limit ?",
        afterSeq,
        REVOCATION_PAGE_ENTRIES + 1,
      )
      .toArray();
    const entries = rows.slice(0, REVOCATION_PAGE_ENTRIES).map(toRevocation);
    const seq =
      entries.at(-1)?.seq ??
      this.ctx.storage.sql.exec<{ seq: number | null }>("select max(seq) as seq from revocations").one().seq ??
      0;
    return { seq, entries, more: rows.length > REVOCATION_PAGE_ENTRIES };
  }

  /**
   * One page of the entries this object holds after `afterSeq`, each with the tenant its key was
   * issued to when this object issued it. Read on the `global` object, whose own list is the single
   * one every tenant shared before lists were per tenant; the admin route moves it (admin.ts).
   */
  legacyRevocations(afterSeq: number): { entries: (Revocation & { keyTenant: string | null })[]; more: boolean } {
    const rows = this.ctx.storage.sql
      .exec<RevocationRow & { key_tenant: string | null }>(
        "select r.seq, r.kind, r.subject, r.revoked_ms, k.tenant as key_tenant from revocations r left join issued_keys k on r.kind = 'key' and k.id = r.subject where r.seq > ? order by r.seq limit ?",
        afterSeq,
        LEGACY_PAGE_ENTRIES + 1,
      )
      .toArray();
    return {
      entries: rows.slice(0, LEGACY_PAGE_ENTRIES).map((row) => ({ ...toRevocation(row), keyTenant: row.key_tenant })),
      more: rows.length > LEGACY_PAGE_ENTRIES,
    };
  }

  /** Key id → epoch ms of the minute it was last used, as this object holds it (a usage shard, or the global one). */
  lastUsed(): Record<string, number> {
    const usage = this.ctx.storage.sql
      .exec<{ id: string; last_used_ms: number }>("select id, last_used_ms from key_usage")
      .toArray();
    return Object.fromEntries(usage.map((row) => [row.id, row.last_used_ms]));
  }

  recordUsage(entries: [string, number][]): void {
    // One statement for the whole batch: a batch can hold every key id an isolate saw (10,000 and more).
    this.ctx.storage.sql.exec(
      "insert into key_usage (id, last_used_ms) select json_extract(value, '$[0]'), json_extract(value, '$[1]') from json_each(?) where true on conflict (id) do update set last_used_ms = max(last_used_ms, excluded.last_used_ms)",
      JSON.stringify(entries),
    );
  }

  snapshot(): RegistrySnapshot {
    const keys = this.ctx.storage.sql
      .exec<KeyRow>("select id, tenant, scopes, rate_limit, kid, created_ms from issued_keys order by created_ms, id")
      .toArray();
    const usage = this.ctx.storage.sql
      .exec<{ id: string; last_used_ms: number }>("select id, last_used_ms from key_usage")
      .toArray();
    return {
      keys: keys.map(toIssuedKey),
      lastUsedMs: Object.fromEntries(usage.map((row) => [row.id, row.last_used_ms])),
    };
  }

  /** Every key issued to one tenant, by an operator or its own admins: what its key list starts from. */
  keysOf(tenant: string): IssuedKey[] {
    return this.ctx.storage.sql
      .exec<KeyRow>(
        "select id, tenant, scopes, rate_limit, kid, created_ms from issued_keys where tenant = ? order by created_ms, id",
        tenant,
      )
      .toArray()
      .map(toIssuedKey);
  }
}

const toIssuedKey = (row: KeyRow): IssuedKey => ({
  id: row.id,
  tenant: row.tenant,
  scopes: JSON.parse(row.scopes) as ApiKeyScope[],
  ...(row.rate_limit === null ? {} : { rateLimit: row.rate_limit }),
  kid: row.kid,
  createdAtMs: row.created_ms,
});

/** The issued keys: admin routes only. */
export function keyRegistry(namespace: DurableObjectNamespace<KeyRegistry>): DurableObjectStub<KeyRegistry> {
  return namespace.get(namespace.idFromName("global"));
}

/** The object holding one tenant's revocations (tenant slugs never contain ":"). */
export function revocationShard(
  namespace: DurableObjectNamespace<KeyRegistry>,
  tenant: string,
): DurableObjectStub<KeyRegistry> {
  return namespace.get(namespace.idFromName(`revocations:${tenant}`));
}

/**
 * Usage batches go to one of USAGE_SHARDS objects of the same class, chosen once per isolate, so
 * no object takes every isolate's batches; the key listing merges them (the latest minute wins).
 */
export const USAGE_SHARDS = 8;

export function usageShard(
  namespace: DurableObjectNamespace<KeyRegistry>,
  shard: number,
): DurableObjectStub<KeyRegistry> {
  return namespace.get(namespace.idFromName(`usage:${shard}`));
}
