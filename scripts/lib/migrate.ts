/**
 * Migrations are plain SQL in sql/migrations, applied in order by dbmate, which records each in
 * `schema_migrations` and never applies one twice.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DBMATE = path.join(PROJECT_ROOT, "node_modules", ".bin", "dbmate");

export async function migrate(databaseUrl: string): Promise<string> {
  const { stdout } = await run(DBMATE, [
    "--url",
    databaseUrl,
    "--migrations-dir",
    path.join(PROJECT_ROOT, "sql", "migrations"),
    "--no-dump-schema",
    "up",
  ]);
  return stdout;
}
