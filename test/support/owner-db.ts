/** Fixture access as the database owner, through the worker's own driver path and local endpoint. */
import { createDatabase, type Row } from "../../src/db/client.ts";
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
