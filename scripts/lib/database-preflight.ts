/**
 * Before `npm run dev` says "ready" on a database it did not create: does that database have every
 * migration, and does it hold the same tenant scope key as the worker will? Either gap would let
 * sign-in work while every metrics read answers 503 with nothing in the log but a SQLSTATE, so each
 * is named here with the command that closes it.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { PROJECT_ROOT } from "./migrate.ts";
import { SET_TENANT_SCOPE_SQL, tenantScopeParams } from "./tenant-scope-key.ts";

/** Within the 10 s a developer should wait for a verdict, connecting included. */
const TIMEOUT_MS = 8_000;
/** Not a possible tenant slug, as in the worker's readiness probe (src/db/health.ts). */
const PROBE_TENANT = "-readiness-probe";
const UNDEFINED_FUNCTION = "42883";
const INSUFFICIENT_PRIVILEGE = "42501";

export class PreflightError extends Error {}

function newestMigration(): string {
  const names = readdirSync(path.join(PROJECT_ROOT, "sql", "migrations"))
    .filter((name) => name.endsWith(".sql"))
    .map((name) => name.slice(0, -".sql".length))
    .sort();
  return names.at(-1)!;
}

const sqlState = (error: unknown) => (error as { code?: unknown }).code;

/** Resolves when the metrics role's database is migrated and scoped with `scopeKey`; else a PreflightError. */
export async function checkConfiguredDatabase(databaseUrl: string, scopeKey: string): Promise<void> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: TIMEOUT_MS,
    query_timeout: TIMEOUT_MS,
  });
  try {
    await client.connect();
  } catch (error) {
    throw new PreflightError(`Cannot connect to DATABASE_URL (${String((error as Error).message)}).`);
  }
  try {
    const expected = newestMigration();
    const applied = await client
      .query<{ version: string | null }>("select app_schema_version() as version")
      .then((result) => result.rows[0]?.version ?? null)
      .catch((error: unknown) => {
        if (sqlState(error) === UNDEFINED_FUNCTION) return null;
        throw error;
      });
    if (applied === null || applied < expected) {
      throw new PreflightError(
        `The database at DATABASE_URL lacks migrations (has ${applied ?? "none we know"}, needs ${expected}). ` +
          "Run `npm run db:migrate` with MIGRATION_DATABASE_URL set to its owner.",
      );
    }
    const expiresAt = Math.floor(Date.now() / 1000) + 60;
    await client.query("begin read only");
    try {
      await client.query(SET_TENANT_SCOPE_SQL, tenantScopeParams(scopeKey, PROBE_TENANT, expiresAt));
    } catch (error) {
      if (sqlState(error) !== INSUFFICIENT_PRIVILEGE) throw error;
      throw new PreflightError(
        "The database at DATABASE_URL holds another tenant scope key than TENANT_SCOPE_KEY. Pin the key in " +
          ".dev.vars and run `npm run db:scope-key` to install it.",
      );
    } finally {
      await client.query("rollback").catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
