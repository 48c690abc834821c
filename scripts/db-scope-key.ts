/**
 * `npm run db:scope-key`: installs TENANT_SCOPE_KEY (env or .dev.vars) in the database of
 * MIGRATION_DATABASE_URL (or DATABASE_URL), as the owner that ran the migrations. Run it after
 * `npm run db:migrate` and whenever the Worker secret changes (README: "Tenant scope key").
 */
import pg from "pg";
import { setting } from "./lib/config-files.ts";
import { installTenantScopeKey } from "./lib/tenant-scope-key.ts";

const databaseUrl = setting("MIGRATION_DATABASE_URL") ?? setting("DATABASE_URL");
const key = setting("TENANT_SCOPE_KEY");
if (databaseUrl === undefined || key === undefined) {
  console.error("Set TENANT_SCOPE_KEY and MIGRATION_DATABASE_URL (or DATABASE_URL) in the environment or .dev.vars.");
  process.exit(1);
}
const client = new pg.Client({ connectionString: databaseUrl });
await client.connect();
try {
  await installTenantScopeKey(client, key);
  console.log("Tenant scope key installed.");
} finally {
  await client.end();
}
