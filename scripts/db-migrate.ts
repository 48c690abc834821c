/** `npm run db:migrate`: applies pending sql/migrations to DATABASE_URL (env or .dev.vars). */
import { setting } from "./lib/config-files.ts";
import { migrate } from "./lib/migrate.ts";

const databaseUrl = setting("MIGRATION_DATABASE_URL") ?? setting("DATABASE_URL");
if (databaseUrl === undefined) {
  console.error("Set DATABASE_URL (or MIGRATION_DATABASE_URL) in the environment or .dev.vars.");
  process.exit(1);
}
const applied = await migrate(databaseUrl);
console.log(applied.length === 0 ? "Database is up to date." : `Applied: ${applied.join(", ")}`);
