import { readdirSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, PROJECT_ROOT } from "../../scripts/lib/migrate.ts";
import { type PostgresPreference, type RunningPostgres, startPostgres } from "../../scripts/lib/postgres.ts";

/** Everything that defines the schema, in a stable order, so two snapshots compare as strings. */
const SCHEMA_SNAPSHOT_SQL = `
  select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') as item
    from information_schema.columns where table_schema = 'public'
  union all
  select 'index ' || indexdef from pg_indexes where schemaname = 'public'
  union all
  select 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    from pg_constraint where connamespace = 'public'::regnamespace
  union all
  select 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || array_to_string(roles, ',') || ' ' || coalesce(qual, '')
    from pg_policies where schemaname = 'public'
  union all
  select 'rls ' || relname || ' ' || relrowsecurity from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'
  union all
  select 'grant ' || grantee || ' ' || table_name || ' ' || privilege_type
    from information_schema.role_table_grants where grantee like 'streamforge_%'
  union all
  select 'column grant ' || grantee || ' ' || table_name || '.' || column_name || ' ' || privilege_type
    from information_schema.column_privileges where grantee like 'streamforge_%'
  union all
  select 'role setting ' || r.rolname || ' ' || array_to_string(s.setconfig, ',')
    from pg_db_role_setting s join pg_roles r on r.oid = s.setrole where r.rolname like 'streamforge_%'
  order by 1`;

const MIGRATIONS = readdirSync(path.join(PROJECT_ROOT, "sql", "migrations"))
  .filter((file) => file.endsWith(".sql"))
  .map((file) => file.slice(0, -".sql".length))
  .sort();

describe("migrations", () => {
  let postgres: RunningPostgres;
  let client: pg.Client;

  beforeAll(async () => {
    postgres = await startPostgres((process.env.TEST_POSTGRES ?? "auto") as PostgresPreference);
    client = new pg.Client({ connectionString: postgres.databaseUrl });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await postgres?.stop();
  });

  async function snapshot(): Promise<string[]> {
    const { rows } = await client.query<{ item: string }>(SCHEMA_SNAPSHOT_SQL);
    return rows.map((row) => row.item);
  }

  it("applies every migration once, records it, and leaves the schema unchanged when run again", async () => {
    expect(MIGRATIONS.slice(0, 4)).toEqual([
      "0001_schema",
      "0002_roles_and_rls",
      "0003_tenant_scope_mac",
      "0004_schema_version",
    ]);
    expect(await migrate(postgres.databaseUrl)).toEqual(MIGRATIONS);
    const afterFirst = await snapshot();
    expect(afterFirst).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^index CREATE INDEX metric_buckets_tenant_window_idx/),
        expect.stringMatching(/^policy metric_buckets metric_buckets_tenant_isolation SELECT streamforge_metrics/),
        "grant streamforge_metrics metric_buckets SELECT",
      ]),
    );

    expect(await migrate(postgres.databaseUrl)).toEqual([]);
    expect(await snapshot()).toEqual(afterFirst);

    const { rows } = await client.query<{ name: string }>("select name from schema_migrations order by id");
    expect(rows.map((row) => row.name)).toEqual(MIGRATIONS);
  });
});
