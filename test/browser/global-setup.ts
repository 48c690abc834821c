/**
 * One PostgreSQL server, migrated and seeded, for every browser file: the worker only reads it, so
 * the files can share it, and each saves a server start and a seed. Each file's worker still
 * reaches it through a SQL endpoint of its own, which its tests may close to cut the database.
 * PGlite is one session for all connections, and endpoints in several processes would interleave
 * their transactions on it: with PGlite, each file starts its own (`startLocalWorker`).
 */
import type { TestProject } from "vitest/node";
import { migrate } from "../../scripts/lib/migrate.ts";
import { type PostgresPreference, startPostgres } from "../../scripts/lib/postgres.ts";
import { seed } from "../../scripts/lib/seed.ts";
import { installTenantScopeKey } from "../../scripts/lib/tenant-scope-key.ts";
import { TEST_PEPPER, TEST_TENANT_SCOPE_KEY } from "../support/constants.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared server's database, or "" when each file starts its own. */
    browserDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const preference = (process.env.TEST_POSTGRES ?? "auto") as PostgresPreference;
  if (preference === "pglite") {
    project.provide("browserDatabaseUrl", "");
    return;
  }
  const postgres = await startPostgres(preference);
  if (postgres.kind === "pglite") {
    await postgres.stop();
    project.provide("browserDatabaseUrl", "");
    return;
  }
  try {
    await seedDatabase(postgres.databaseUrl);
  } catch (error) {
    await postgres.stop();
    throw error;
  }
  project.provide("browserDatabaseUrl", postgres.databaseUrl);
  return () => postgres.stop();
}

/** Migrations, a day of demo metrics and the tenant scope key: what the browser files read. */
export async function seedDatabase(databaseUrl: string): Promise<void> {
  await migrate(databaseUrl);
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await seed(client, { pepper: TEST_PEPPER, buckets: 1440 });
    await installTenantScopeKey(client, TEST_TENANT_SCOPE_KEY);
  } finally {
    await client.end();
  }
}
