/**
 * Starts what the worker suite needs and stops it afterwards: a Postgres (a real server when its
 * binaries exist; TEST_POSTGRES=postgresql makes that mandatory, as CI does), migrated and seeded,
 * plus the local stand-in for Neon's SQL endpoint that the worker's driver reaches it through, with
 * the suite's injectable database faults (test/support/sql-faults.ts).
 */
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { migrate } from "../../scripts/lib/migrate.ts";
import { type PostgresPreference, type RoleUrls, roleUrls, startPostgres } from "../../scripts/lib/postgres.ts";
import { seed } from "../../scripts/lib/seed.ts";
import { type SqlEndpoint, startSqlEndpoint } from "../../scripts/lib/sql-endpoint.ts";
import { installTenantScopeKey } from "../../scripts/lib/tenant-scope-key.ts";
import { TEST_PEPPER, TEST_TENANT_SCOPE_KEY } from "./constants.ts";
import { injectSqlFault } from "./sql-faults.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Owner URL: for fixtures only (counting rows, checking tables are unchanged). */
    databaseUrl: string;
    metricsUrl: string;
    authUrl: string;
    databaseKind: string;
    sqlEndpoint: string;
    sqlSecret: string;
  }
}

export default async function setup(project: TestProject) {
  const preference = (process.env.TEST_POSTGRES ?? "auto") as PostgresPreference;
  const postgres = await startPostgres(preference);
  const sqlSecret = randomBytes(32).toString("base64url");
  let roles: RoleUrls;
  let endpoint: SqlEndpoint;
  try {
    await migrate(postgres.databaseUrl);
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: postgres.databaseUrl });
    await client.connect();
    try {
      await seed(client, { pepper: TEST_PEPPER, buckets: 12 * 1440 });
      await installTenantScopeKey(client, TEST_TENANT_SCOPE_KEY);
    } finally {
      await client.end();
    }
    roles = await roleUrls(postgres);
    // The owner URL too: fixtures count rows through the same driver path as the worker.
    endpoint = await startSqlEndpoint({
      connectionStrings: [postgres.databaseUrl, roles.metricsUrl, roles.authUrl],
      secret: sqlSecret,
      serialize: postgres.kind === "pglite",
      // Only connection strings that name a fault (SQL_FAULTS) are affected.
      beforeExecute: injectSqlFault,
    });
  } catch (error) {
    await postgres.stop();
    throw error;
  }
  project.provide("databaseUrl", postgres.databaseUrl);
  project.provide("metricsUrl", roles.metricsUrl);
  project.provide("authUrl", roles.authUrl);
  project.provide("databaseKind", postgres.kind);
  project.provide("sqlEndpoint", endpoint.url);
  project.provide("sqlSecret", sqlSecret);
  return async () => {
    await endpoint.close();
    await postgres.stop();
  };
}
