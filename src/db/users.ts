import type { Queryable } from "./client.ts";

export interface LoginRecord {
  username: string;
  passwordHash: string;
  tenant: string;
}

export async function findLoginRecord(db: Queryable, username: string): Promise<LoginRecord | undefined> {
  const { rows } = await db.query<{ username: string; password_hash: string; tenant: string }>(
    "select u.username, u.password_hash, t.slug as tenant from users u join tenants t on t.id = u.tenant_id where u.username = $1",
    [username],
  );
  const row = rows[0];
  return row === undefined ? undefined : { username: row.username, passwordHash: row.password_hash, tenant: row.tenant };
}
