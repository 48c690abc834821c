/**
 * Starts what the worker suite needs and stops it afterwards: a Postgres (a real server when its
 * binaries exist; TEST_POSTGRES=postgresql makes that mandatory, as CI does), migrated and seeded,
 * plus the WebSocket→TCP bridge the Neon driver reaches it through.
 */
import type { TestProject } from "vitest/node";
import { startBridge } from "../../scripts/lib/ws-bridge.ts";
import { migrate } from "../../scripts/lib/migrate.ts";
import { roleUrls, startPostgres, type PostgresPreference } from "../../scripts/lib/postgres.ts";
import { seed } from "../../scripts/lib/seed.ts";
import { TEST_PEPPER } from "./constants.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Owner URL: for fixtures only (counting rows, checking tables are unchanged). */
    databaseUrl: string;
    metricsUrl: string;
    authUrl: string;
    databaseKind: string;
    bridgeAddress: string;
  }
}

export default async function setup(project: TestProject) {
  const preference = (process.env.TEST_POSTGRES ?? "auto") as PostgresPreference;
  const postgres = await startPostgres(preference);
  const bridge = await startBridge();
  let roles;
  try {
    await migrate(postgres.databaseUrl);
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: postgres.databaseUrl });
    await client.connect();
    try {
      await seed(client, { pepper: TEST_PEPPER, buckets: 12 * 1440 });
    } finally {
      await client.end();
    }
    roles = await roleUrls(postgres);
  } catch (error) {
    await bridge.close();
    await postgres.stop();
    throw error;
  }
  project.provide("databaseUrl", postgres.databaseUrl);
  project.provide("metricsUrl", roles.metricsUrl);
  project.provide("authUrl", roles.authUrl);
  project.provide("databaseKind", postgres.kind);
  project.provide("bridgeAddress", bridge.address);
  return async () => {
    await bridge.close();
    await postgres.stop();
  };
}
