/**
 * Migrations are plain SQL in sql/migrations (`-- Up Migration` / `-- Down Migration` sections),
 * applied in file-name order by node-pg-migrate, which records each in `schema_migrations` under
 * an advisory lock and never applies one twice.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MIGRATIONS_DIR = path.join(PROJECT_ROOT, "sql", "migrations");

/** Applies pending migrations; returns the names applied by this call (empty when up to date). */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: "schema_migrations",
    direction: "up",
    checkOrder: true,
    log: () => {},
  });
  return applied.map((migration) => migration.name);
}
