/**
 * Installs TENANT_SCOPE_KEY in the database (table `tenant_scope_key`, migration 0003), where only
 * the owner's security-definer functions read it. Run as the owner that ran the migrations; the
 * key travels as a bind parameter, never in SQL text, so statement logs do not record it.
 */
import { createHmac } from "node:crypto";
import type pg from "pg";

/** The statement that scopes a transaction to `tenant`, as the worker sends it (src/db/tenant-scope.ts). */
export const SET_TENANT_SCOPE_SQL = "select app_set_tenant_scope($1, $2, $3)";

/** Parameters of SET_TENANT_SCOPE_SQL: for fixtures and the bench, which scope sessions outside the worker. */
export function tenantScopeParams(key: string, tenant: string, expiresAt: number): [string, number, string] {
  return [tenant, expiresAt, createHmac("sha256", key).update(`${expiresAt}:${tenant}`).digest("hex")];
}

export async function installTenantScopeKey(client: pg.Client, key: string): Promise<void> {
  if (Buffer.byteLength(key, "utf8") < 32) throw new Error("TENANT_SCOPE_KEY must be at least 32 bytes");
  await client.query(
    `insert into tenant_scope_key (key) values (convert_to($1, 'UTF8'))
     on conflict (singleton) do update set key = excluded.key, installed_at = now()`,
    [key],
  );
}
