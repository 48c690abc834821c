import { roleOf, type UserRole } from "../auth/roles.ts";
import type { Query } from "./client.ts";

export interface LoginRecord {
  username: string;
  passwordHash: string;
  tenant: string;
  role: UserRole;
}

export function findLoginRecord(username: string): Query<LoginRecord | undefined> {
  return {
    text: "select u.username, u.password_hash, u.role, t.slug as tenant from users u join tenants t on t.id = u.tenant_id where u.username = $1",
    params: [username],
    decode: (rows) => {
      const row = rows[0] as { username: string; password_hash: string; role: string; tenant: string } | undefined;
      return row === undefined
        ? undefined
        : { username: row.username, passwordHash: row.password_hash, tenant: row.tenant, role: roleOf(row.role) };
    },
  };
}

export interface UserRecord {
  username: string;
  tenant: string;
}

/**
 * The users whose name matches `name` ignoring case, the exact spelling first: operators type names
 * as they remember them, and a revocation must name the user as the database spells it.
 */
export function findUsersByName(name: string): Query<UserRecord[]> {
  return {
    text: "select u.username, t.slug as tenant from users u join tenants t on t.id = u.tenant_id where lower(u.username) = lower($1) order by u.username = $1 desc, u.username limit 2",
    params: [name],
    decode: (rows) =>
      (rows as { username: string; tenant: string }[]).map((row) => ({ username: row.username, tenant: row.tenant })),
  };
}

/** A user's standing for key management, read at each request: a role taken away counts at once. */
export interface KeyManager {
  username: string;
  tenant: string;
  role: UserRole;
  /** What the tenant's plan lets its keys carry. */
  keyScopes: string[];
  /** The highest rate limit a key of the tenant may have, as `N/unit`. */
  keyRateCeiling: string;
}

export function findKeyManager(username: string): Query<KeyManager | undefined> {
  return {
    text: "select u.username, u.role, t.slug as tenant, t.api_key_scopes, t.api_key_rate_ceiling from users u join tenants t on t.id = u.tenant_id where u.username = $1",
    params: [username],
    decode: (rows) => {
      const row = rows[0] as
        | { username: string; role: string; tenant: string; api_key_scopes: string[]; api_key_rate_ceiling: string }
        | undefined;
      return row === undefined
        ? undefined
        : {
            username: row.username,
            tenant: row.tenant,
            role: roleOf(row.role),
            keyScopes: row.api_key_scopes,
            keyRateCeiling: row.api_key_rate_ceiling,
          };
    },
  };
}
