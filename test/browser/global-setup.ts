/**
 * One PostgreSQL server, migrated and seeded, for every browser file: the worker only reads it, so
 * the files can share it, and each saves a server start and a seed. Each file's worker still
 * reaches it through a SQL endpoint of its own, which its tests may close to cut the database.
 * PGlite is one session for all connections, and endpoints in several processes would interleave
 * their transactions on it: with PGlite, each file starts its own (`startLocalWorker`).
 * The API worker is bundled here too, once, rather than by each file's harness.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { migrate } from "../../scripts/lib/migrate.ts";
import { type PostgresPreference, startPostgres } from "../../scripts/lib/postgres.ts";
import { seed } from "../../scripts/lib/seed.ts";
import { installTenantScopeKey } from "../../scripts/lib/tenant-scope-key.ts";
import { TEST_PEPPER, TEST_TENANT_SCOPE_KEY } from "../support/constants.ts";
import { buildApiWorker } from "./harness.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared server's database, or "" when each file starts its own. */
    browserDatabaseUrl: string;
    /** The API worker, bundled once for every file's test harness (harness.ts). */
    browserWorkerDir: string;
  }
}

export default async function setup(project: TestProject) {
  const workerDir = await mkdtemp(path.join(tmpdir(), "streamforge-worker-"));
  const removeWorkerDir = () => rm(workerDir, { recursive: true, force: true });
  // Side by side: the build is CPU, the database mostly waiting.
  const [database, build] = await Promise.allSettled([startSharedDatabase(project), buildApiWorker(workerDir)]);
  if (database.status === "rejected") {
    await removeWorkerDir();
    throw database.reason;
  }
  if (build.status === "rejected") {
    await database.value();
    await removeWorkerDir();
    throw build.reason;
  }
  project.provide("browserWorkerDir", workerDir);
  return async () => {
    await database.value();
    await removeWorkerDir();
  };
}

/** Provides the shared server's database, or "" with PGlite; returns what stops it. */
async function startSharedDatabase(project: TestProject): Promise<() => Promise<void>> {
  const preference = (process.env.TEST_POSTGRES ?? "auto") as PostgresPreference;
  const none = async () => undefined;
  if (preference === "pglite") {
    project.provide("browserDatabaseUrl", "");
    return none;
  }
  const postgres = await startPostgres(preference);
  if (postgres.kind === "pglite") {
    await postgres.stop();
    project.provide("browserDatabaseUrl", "");
    return none;
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
