/**
 * TenantKeys: one Durable Object per tenant (`idFromName("tenant:" + slug)`) holding what the
 * tenant's admins need to manage the keys they create: name, scopes, rate limit, expiry, and what
 * happened to each key (rolled, revoked, reported leaked). Keys an operator issued to the tenant
 * are the registry's (registry.ts); this object keeps only why one of them was revoked. Workers never ask it to verify a key
 * (keys verify by their MAC, refusals come from the revocation list); only the key management
 * routes, the leak reports and its own alarm do. One object per tenant means a tenant can only
 * ever look up its own ids: another tenant's id is simply not there (no object-level check to
 * forget), and no object sits on every tenant's path.
 *
 * A roll keeps the predecessor working for a grace period: the object sets an alarm for the end
 * of it and then revokes the predecessor through the revocation list, so every isolate refuses it
 * within the list's bound (60 s) after the grace period.
 */
import { DurableObject } from "cloudflare:workers";
import type { ApiKeyScope } from "../auth/api-keys.ts";
import { revokeKeyId } from "./revoke-key.ts";

export interface TenantKey {
  id: string;
  tenant: string;
  name: string;
  scopes: ApiKeyScope[];
  rateLimit: string;
  createdAtMs: number;
  expiresAtMs: number;
  /** The key this one replaced, when it came from a roll. */
  rolledFrom?: string;
  /** When a roll's grace period ends (the key is revoked then); set once. */
  graceEndsAtMs?: number;
  revokedAtMs?: number;
  /** Why, for the tenant: "revoked by <user>", "rolled", "reported leaked at <url>". */
  revokedReason?: string;
}

interface KeyRow extends Record<string, SqlStorageValue> {
  id: string;
  tenant: string;
  name: string;
  scopes: string;
  rate_limit: string;
  created_ms: number;
  expires_ms: number;
  rolled_from: string | null;
  grace_ends_ms: number | null;
  revoked_ms: number | null;
  revoked_reason: string | null;
}

const toKey = (row: KeyRow): TenantKey => ({
  id: row.id,
  tenant: row.tenant,
  name: row.name,
  scopes: JSON.parse(row.scopes) as ApiKeyScope[],
  rateLimit: row.rate_limit,
  createdAtMs: row.created_ms,
  expiresAtMs: row.expires_ms,
  ...(row.rolled_from === null ? {} : { rolledFrom: row.rolled_from }),
  ...(row.grace_ends_ms === null ? {} : { graceEndsAtMs: row.grace_ends_ms }),
  ...(row.revoked_ms === null ? {} : { revokedAtMs: row.revoked_ms }),
  ...(row.revoked_reason === null ? {} : { revokedReason: row.revoked_reason }),
});

export class TenantKeys extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      create table if not exists tenant_keys (id text primary key, tenant text not null, name text not null, scopes text not null, rate_limit text not null, created_ms integer not null, expires_ms integer not null, rolled_from text, grace_ends_ms integer, revoked_ms integer, revoked_reason text);
      create table if not exists revocation_notes (id text primary key, revoked_ms integer not null, reason text not null);
    `);
  }

  add(key: TenantKey): void {
    this.ctx.storage.sql.exec(
      "insert into tenant_keys (id, tenant, name, scopes, rate_limit, created_ms, expires_ms, rolled_from) values (?, ?, ?, ?, ?, ?, ?, ?)",
      key.id,
      key.tenant,
      key.name,
      JSON.stringify(key.scopes),
      key.rateLimit,
      key.createdAtMs,
      key.expiresAtMs,
      key.rolledFrom ?? null,
    );
  }

  get(id: string): TenantKey | undefined {
    const row = this.ctx.storage.sql.exec<KeyRow>("select * from tenant_keys where id = ?", id).toArray()[0];
    return row === undefined ? undefined : toKey(row);
  }

  list(): TenantKey[] {
    return this.ctx.storage.sql
      .exec<KeyRow>("select * from tenant_keys order by created_ms desc, id")
      .toArray()
      .map(toKey);
  }

  /**
   * Starts the grace period of a key being replaced; false when it already had one or is revoked
   * (one successor per key, so two rolls of one key cannot both succeed).
   */
  async startGrace(id: string, graceEndsAtMs: number): Promise<boolean> {
    const changed = this.ctx.storage.sql
      .exec(
        "update tenant_keys set grace_ends_ms = ? where id = ? and grace_ends_ms is null and revoked_ms is null returning id",
        graceEndsAtMs,
        id,
      )
      .toArray();
    if (changed.length === 0) return false;
    await this.scheduleNextAlarm();
    return true;
  }

  /**
   * Records a revocation made through the list; the first reason stays (a leak report is not
   * overwritten). A key this object does not hold (an operator issued it) keeps only when and why,
   * for the tenant's list, which reads the key itself from the registry.
   */
  noteRevoked(id: string, revokedAtMs: number, reason: string): void {
    this.ctx.storage.sql.exec(
      "update tenant_keys set revoked_ms = ?, revoked_reason = ? where id = ? and revoked_ms is null",
      revokedAtMs,
      reason,
      id,
    );
    if (this.get(id) === undefined)
      this.ctx.storage.sql.exec(
        "insert into revocation_notes (id, revoked_ms, reason) values (?, ?, ?) on conflict (id) do nothing",
        id,
        revokedAtMs,
        reason,
      );
  }

  /** Key id → when and why it was revoked, for the keys of the tenant this object does not hold. */
  revocationNotes(): Record<string, { revokedAtMs: number; reason: string }> {
    const rows = this.ctx.storage.sql
      .exec<{ id: string; revoked_ms: number; reason: string }>("select id, revoked_ms, reason from revocation_notes")
      .toArray();
    return Object.fromEntries(rows.map((row) => [row.id, { revokedAtMs: row.revoked_ms, reason: row.reason }]));
  }

  /** Revokes every predecessor whose grace period is over, then waits for the next one. */
  override async alarm(): Promise<void> {
    const nowMs = Date.now();
    const due = this.ctx.storage.sql
      .exec<KeyRow>(
        "select * from tenant_keys where grace_ends_ms is not null and grace_ends_ms <= ? and revoked_ms is null",
        nowMs,
      )
      .toArray();
    for (const row of due) {
      await revokeKeyId(this.env.KEY_REGISTRY, row.tenant, row.id, nowMs);
      this.noteRevoked(row.id, nowMs, "rolled");
    }
    await this.scheduleNextAlarm();
  }

  private async scheduleNextAlarm(): Promise<void> {
    const next = this.ctx.storage.sql
      .exec<{ at: number | null }>(
        "select min(grace_ends_ms) as at from tenant_keys where grace_ends_ms is not null and revoked_ms is null",
      )
      .one().at;
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }
}

export function tenantKeys(
  namespace: DurableObjectNamespace<TenantKeys>,
  tenant: string,
): DurableObjectStub<TenantKeys> {
  return namespace.get(namespace.idFromName(`tenant:${tenant}`));
}
