/**
 * Demo data: three tenants, an analyst and a tenant admin each, twelve streams, and per-minute
 * buckets generated inside Postgres (one INSERT … SELECT per day of data, not a round trip per
 * row), so ~10 M buckets for a benchmark take minutes, not hours. The bulk load runs with the buckets' keys and indexes dropped
 * and builds them once at the end: maintaining two B-trees and a foreign-key check row by row cost
 * more than generating the rows.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type pg from "pg";
import { hashPassword } from "../../src/auth/password.ts";
import { DEMO_PASSWORD, DEMO_STREAM_COUNT, DEMO_TENANTS } from "./demo-data.ts";
import { PROJECT_ROOT } from "./migrate.ts";

const MINUTES_PER_DAY = 1440;
const DEFAULT_DAYS = 7;

export interface SeedOptions {
  /** Total buckets wanted; the history length follows from it. Default: 7 days of every stream. */
  buckets?: number;
  pepper: string;
  /** Last bucket; defaults to the current minute, so "the last hour" has data. */
  now?: Date;
  onProgress?: (insertedBuckets: number, totalBuckets: number) => void;
}

export async function seed(client: pg.Client, options: SeedOptions): Promise<{ buckets: number; minutes: number }> {
  const minutes = Math.max(
    1,
    Math.round((options.buckets ?? DEFAULT_DAYS * MINUTES_PER_DAY * DEMO_STREAM_COUNT) / DEMO_STREAM_COUNT),
  );
  const lastBucket = new Date(Math.floor((options.now ?? new Date()).getTime() / 60_000) * 60_000);
  const bucketSql = await readFile(path.join(PROJECT_ROOT, "sql", "seed", "demo.sql"), "utf8");
  const passwordHash = await hashPassword(DEMO_PASSWORD, options.pepper);

  await client.query("begin");
  try {
    await client.query("truncate metric_buckets, streams, users, tenants restart identity cascade");
    for (const tenant of DEMO_TENANTS) {
      const { rows } = await client.query<{ id: string }>(
        "insert into tenants (slug, name) values ($1, $2) returning id",
        [tenant.slug, tenant.name],
      );
      const tenantId = rows[0]!.id;
      await client.query(
        "insert into users (tenant_id, username, password_hash, role) values ($1, $2, $4, 'analyst'), ($1, $3, $4, 'tenant_admin')",
        [tenantId, tenant.username, tenant.adminUsername, passwordHash],
      );
      await client.query("insert into streams (tenant_id, name) select $1, unnest($2::text[])", [
        tenantId,
        tenant.streams,
      ]);
    }
    // The planner sees the streams just inserted as an unanalysed table of ~1,250 rows, so each
    // day's INSERT looks like a million-row job and was JIT-compiled: half a second per statement.
    await client.query("set local jit = off");
    // See the vacuum below: a throwaway server runs synchronous_commit = off.
    await client.query("set local synchronous_commit = on");
    const rebuild = await dropBucketKeysAndIndexes(client);
    for (let done = 0; done < minutes; done += MINUTES_PER_DAY) {
      const chunk = Math.min(MINUTES_PER_DAY, minutes - done);
      const chunkEnd = new Date(lastBucket.getTime() - done * 60_000);
      await client.query(bucketSql, [chunkEnd, chunk]);
      options.onProgress?.((done + chunk) * DEMO_STREAM_COUNT, minutes * DEMO_STREAM_COUNT);
    }
    for (const statement of rebuild) await client.query(statement);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
  // Marks pages all-visible too, so the overview's covering index is read without heap lookups.
  // It can only once it may set the rows' commit hint bits, i.e. once the commit record is flushed —
  // for the commit's whole group of 32 transaction ids in pg_xact, which the ANALYZE of another
  // table would join with an asynchronous commit: so the commit above is synchronous, and the
  // buckets go first.
  await client.query("vacuum (analyze) metric_buckets, streams, users, tenants");
  return { buckets: minutes * DEMO_STREAM_COUNT, minutes };
}

/**
 * Drops the foreign keys, unique keys and indexes of metric_buckets, as the migrations defined
 * them, and returns the statements that recreate them: keys and indexes first, foreign keys last.
 * Read from the catalog, so the seed never holds a second copy of the schema. Runs inside the
 * seed's transaction: nobody ever sees the table without them.
 */
async function dropBucketKeysAndIndexes(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ kind: "foreign-key" | "key" | "index"; drop_sql: string; create_sql: string }>(
    `select case c.contype when 'f' then 'foreign-key' else 'key' end as kind,
            format('alter table metric_buckets drop constraint %I', c.conname) as drop_sql,
            format('alter table metric_buckets add constraint %I %s', c.conname, pg_get_constraintdef(c.oid)) as create_sql
       from pg_constraint c
      where c.conrelid = 'metric_buckets'::regclass and c.contype in ('f', 'p', 'u')
     union all
     select 'index', format('drop index %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
       from pg_index i
      where i.indrelid = 'metric_buckets'::regclass
        and not exists (select from pg_constraint c where c.conrelid = i.indrelid and c.conindid = i.indexrelid)`,
  );
  const order = { "foreign-key": 0, key: 1, index: 2 } as const;
  const sorted = rows.sort((a, b) => order[a.kind] - order[b.kind]);
  for (const row of sorted) await client.query(row.drop_sql);
  return sorted.reverse().map((row) => row.create_sql);
}
