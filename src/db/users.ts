import type { Query } from "./client.ts";

export interface LoginRecord {
  username: string;
  passwordHash: string;
  tenant: string;
}

export function findLoginRecord(username: string): Query<LoginRecord | undefined> {
  return {
    text: "select u.username, u.password_hash, t.slug as tenant from users u join tenants t on t.id = u.tenant_id where u.username = $1",
    params: [username],
    decode: (rows) => {
      const row = rows[0] as { username: string; password_hash: string; tenant: string } | undefined;
      return row === undefined ? undefined : { username: row.username, passwordHash: row.password_hash, tenant: row.tenant };
    },
  };
}
