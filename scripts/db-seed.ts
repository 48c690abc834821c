/**
 * `npm run db:seed [-- --buckets N]`: replaces all data with the deterministic demo set.
 * Needs DATABASE_URL and PASSWORD_PEPPER (env or .dev.vars); the pepper must be the worker's, or
 * the demo logins will not verify.
 */
import { parseArgs } from "node:util";
import { setting } from "./lib/config-files.ts";
import { DEMO_PASSWORD, DEMO_TENANTS } from "./lib/demo-data.ts";
import { seed } from "./lib/seed.ts";

const { values } = parseArgs({ options: { buckets: { type: "string" } } });
const buckets = values.buckets === undefined ? undefined : Number(values.buckets);
if (buckets !== undefined && (!Number.isInteger(buckets) || buckets < 1)) {
  console.error("--buckets must be a positive integer");
  process.exit(1);
}
const databaseUrl = setting("MIGRATION_DATABASE_URL") ?? setting("DATABASE_URL");
const pepper = setting("PASSWORD_PEPPER");
if (databaseUrl === undefined || pepper === undefined) {
  console.error("Set DATABASE_URL and PASSWORD_PEPPER in the environment or .dev.vars.");
  process.exit(1);
}

const { default: pg } = await import("pg");
const client = new pg.Client({ connectionString: databaseUrl });
await client.connect();
try {
  const started = Date.now();
  const result = await seed(client, {
    buckets,
    pepper,
    onProgress: (done, total) => process.stdout.write(`\rseeding buckets: ${done}/${total}`),
  });
  console.log(
    `\nseeded ${result.buckets} buckets (${result.minutes} minutes per stream) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log(`demo users: ${DEMO_TENANTS.map((tenant) => tenant.username).join(", ")} — password: ${DEMO_PASSWORD}`);
} finally {
  await client.end();
}
