/** Fixture access as the database owner, through the worker's own client and bridge. */
import { withDatabase, type Queryable } from "../../src/db/client.ts";
import type { AppConfig } from "../../src/env.ts";
import { testEnv } from "./test-env.ts";

export function withOwner<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
  const pending: Promise<unknown>[] = [];
  const config = { APP_ENV: "local", LOCAL_DB_BRIDGE: testEnv.LOCAL_DB_BRIDGE } as AppConfig;
  return withDatabase({ connectionString: testEnv.TEST_OWNER_DATABASE_URL, config, waitUntil: (p) => pending.push(p) }, work).finally(() =>
    Promise.all(pending),
  );
}

/** Row counts and a content checksum of every table, to prove requests changed nothing. */
export function tableFingerprint(): Promise<Record<string, string>> {
  return withOwner(async (db) => {
    const { rows } = await db.query<{ name: string; value: string }>(
      `select 'tenants' as name, count(*) || ':' || coalesce(sum(hashtext(t::text)::bigint), 0) as value from tenants t
       union all select 'users', count(*) || ':' || coalesce(sum(hashtext(u::text)::bigint), 0) from users u
       union all select 'streams', count(*) || ':' || coalesce(sum(hashtext(s::text)::bigint), 0) from streams s
       union all select 'metric_buckets', count(*) || ':' || coalesce(sum(hashtext(b::text)::bigint), 0) from metric_buckets b`,
    );
    return Object.fromEntries(rows.map((row) => [row.name, row.value]));
  });
}
