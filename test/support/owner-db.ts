/** Fixture access as the database owner, through the worker's own driver path and local endpoint. */
import { neon } from "@neondatabase/serverless";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { hashPassword } from "../../src/auth/password.ts";
import type { UserRole } from "../../src/auth/roles.ts";
import { createDatabase, type Row } from "../../src/db/client.ts";
import { TEST_PEPPER } from "./constants.ts";
import { testEnv } from "./test-env.ts";

const ownerDatabase = createDatabase({
  connectionString: testEnv.TEST_OWNER_DATABASE_URL,
  localEndpoint: { url: testEnv.LOCAL_SQL_ENDPOINT, secret: testEnv.LOCAL_SQL_SECRET },
});

/** Row counts and a content checksum of every table, to prove requests changed nothing. */
export async function tableFingerprint(): Promise<Record<string, string>> {
  const [fingerprint] = await ownerDatabase.read([
    {
      text: `select 'tenants' as name, count(*) || ':' || coalesce(sum(hashtext(t::text)::bigint), 0) as value from tenants t
             union all select 'users', count(*) || ':' || coalesce(sum(hashtext(u::text)::bigint), 0) from users u
             union all select 'streams', count(*) || ':' || coalesce(sum(hashtext(s::text)::bigint), 0) from streams s
             union all select 'metric_buckets', count(*) || ':' || coalesce(sum(hashtext(b::text)::bigint), 0) from metric_buckets b`,
      params: [],
      decode: (rows: Row[]) => Object.fromEntries(rows.map((row) => [row.name, row.value])) as Record<string, string>,
    },
  ]);
  return fingerprint;
}

const ownerSql = neon(testEnv.TEST_OWNER_DATABASE_URL, { authToken: testEnv.LOCAL_SQL_SECRET });

/**
 * A tenant and its users that only the calling file uses (the suite's files share one database
 * and, soon, one runtime): the names must be unique to that file. Their password is DEMO_PASSWORD.
 */
export async function createTenant(tenant: {
  slug: string;
  users: readonly { username: string; role: UserRole }[];
  keyScopes?: readonly string[];
  keyRateCeiling?: string;
}): Promise<void> {
  const passwordHash = await hashPassword(DEMO_PASSWORD, TEST_PEPPER);
  await ownerSql.transaction([
    ownerSql.query(
      "insert into tenants (slug, name, api_key_scopes, api_key_rate_ceiling) values ($1, $1, $2, $3) on conflict (slug) do nothing",
      [tenant.slug, tenant.keyScopes ?? ["metrics:read", "streams:read"], tenant.keyRateCeiling ?? "1000/minute"],
    ),
    ...tenant.users.map((user) =>
      ownerSql.query(
        "insert into users (tenant_id, username, password_hash, role) select id, $2, $3, $4 from tenants where slug = $1 on conflict (username) do nothing",
        [tenant.slug, user.username, passwordHash, user.role],
      ),
    ),
  ]);
}

/** Moves a user to another tenant, as an operator would in the database. */
export async function moveUser(username: string, tenantSlug: string): Promise<void> {
  await ownerSql.query("update users set tenant_id = (select id from tenants where slug = $2) where username = $1", [
    username,
    tenantSlug,
  ]);
}

/** Deletes a user, as an operator would in the database. */
export async function deleteUser(username: string): Promise<void> {
  await ownerSql.query("delete from users where username = $1", [username]);
}

/** Changes a user's role, as an operator would in the database. */
export async function setRole(username: string, role: UserRole): Promise<void> {
  await ownerSql.query("update users set role = $2 where username = $1", [username, role]);
}
