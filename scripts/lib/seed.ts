/**
 * Demo data: three tenants, a user each, twelve streams, and per-minute buckets generated inside
 * Postgres (one INSERT … SELECT per day of data, not a round trip per row), so ~10 M buckets for a
 * benchmark take minutes, not hours.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type pg from "pg";
import { hashPassword } from "../../src/auth/password.ts";
import { DEMO_PASSWORD, DEMO_STREAM_COUNT, DEMO_TENANTS } from "./demo-data.ts";
import { PROJECT_ROOT } from "./migrate.ts";

const MINUTES_PER_DAY = 1440;
export const DEFAULT_DAYS = 7;

export interface SeedOptions {
  /** Total buckets wanted; the history length follows from it. Default: 7 days of every stream. */
  buckets?: number;
  pepper: string;
  /** Last bucket; defaults to the current minute, so "the last hour" has data. */
  now?: Date;
  onProgress?: (insertedBuckets: number, totalBuckets: number) => void;
}

export async function seed(client: pg.Client, options: SeedOptions): Promise<{ buckets: number; minutes: number }> {
  const minutes = Math.max(1, Math.round((options.buckets ?? DEFAULT_DAYS * MINUTES_PER_DAY * DEMO_STREAM_COUNT) / DEMO_STREAM_COUNT));
  const lastBucket = new Date(Math.floor((options.now ?? new Date()).getTime() / 60_000) * 60_000);
  const bucketSql = await readFile(path.join(PROJECT_ROOT, "sql", "seed", "demo.sql"), "utf8");
  const passwordHash = await hashPassword(DEMO_PASSWORD, options.pepper);

  await client.query("begin");
  try {
    await client.query("truncate metric_buckets, streams, users, tenants restart identity cascade");
    for (const tenant of DEMO_TENANTS) {
      const { rows } = await client.query<{ id: string }>("insert into tenants (slug, name) values ($1, $2) returning id", [tenant.slug, tenant.name]);
      const tenantId = rows[0]!.id;
      await client.query("insert into users (tenant_id, username, password_hash) values ($1, $2, $3)", [tenantId, tenant.username, passwordHash]);
      await client.query("insert into streams (tenant_id, name) select $1, unnest($2::text[])", [tenantId, tenant.streams]);
    }
    for (let done = 0; done < minutes; done += MINUTES_PER_DAY) {
      const chunk = Math.min(MINUTES_PER_DAY, minutes - done);
      const chunkEnd = new Date(lastBucket.getTime() - done * 60_000);
      await client.query(bucketSql, [chunkEnd, chunk]);
      options.onProgress?.((done + chunk) * DEMO_STREAM_COUNT, minutes * DEMO_STREAM_COUNT);
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
  // Marks pages all-visible too, so the overview's covering index is read without heap lookups.
  await client.query("vacuum analyze");
  return { buckets: minutes * DEMO_STREAM_COUNT, minutes };
}
