/**
 * Postgres over Neon's SQL-over-HTTP path: a whole read-only transaction is one HTTPS request, so
 * a request from far away costs one round trip to the database instead of the nine of a WebSocket
 * session (TCP, TLS, upgrade, startup, BEGIN, each statement, COMMIT). Neon's proxy runs the batch
 * on a pooled connection between BEGIN and COMMIT; nothing is held between requests, so one
 * `Database` per role serves every request of the isolate.
 *
 * Local mode sends the same requests to the stand-in endpoint (scripts/lib/sql-endpoint.ts) with
 * its per-run secret as the driver's bearer token; every other mode keeps the driver's defaults.
 */
import { neon, neonConfig } from "@neondatabase/serverless";
import { AppError } from "../errors.ts";
import type { TenantScope } from "./tenant-scope.ts";

export type Row = Record<string, unknown>;

/** One statement with bind parameters and how to read its rows. SQL text never carries a value. */
export interface Query<T> {
  text: string;
  params: readonly unknown[];
  decode(rows: Row[]): T;
}

type Results<Q extends readonly Query<unknown>[]> = { [K in keyof Q]: Q[K] extends Query<infer T> ? T : never };

export interface Database {
  /**
   * Runs `queries` as one read-only transaction in one request. With `tenant`, the transaction
   * starts with the tenant scope statement (src/db/tenant-scope.ts): row-level security verifies
   * it on each query, and it vanishes at commit, so nothing of one tenant's scope reaches the next
   * use of the connection.
   */
  read<const Q extends readonly Query<unknown>[]>(queries: Q, scope?: { tenant: string }): Promise<Results<Q>>;
}

export interface LocalSqlEndpoint {
  /** `http://127.0.0.1:port/sql` of the stand-in. */
  url: string;
  /** Its per-run secret. */
  secret: string;
}

export interface DatabaseOptions {
  connectionString: string;
  /** Local mode only; omitted, the driver talks to Neon. */
  localEndpoint?: LocalSqlEndpoint;
  /**
   * Upper bound on one request, so an unreachable database fails fast. Longer than the roles'
   * statement timeouts (set in the database, not here), so those decide first. Default 8000.
   */
  requestTimeoutMs?: number;
  /** Makes the statement that opens a transaction to one tenant; required for scoped reads. */
  tenantScope?: TenantScope;
}

const RETRY_AFTER_SECONDS = "5";

/** Raised for every database failure: a 503 problem that carries no driver text, so nothing leaks. */
export class DatabaseUnavailableError extends AppError {
  constructor() {
    super({
      status: 503,
      code: "database-unavailable",
      title: "Database unavailable",
      detail: "The database did not answer in time. Try again shortly.",
      headers: { "Retry-After": RETRY_AFTER_SECONDS },
    });
    this.name = "DatabaseUnavailableError";
  }
}

/** Logs a failure by class and SQLSTATE only (the driver's message can quote SQL or connection details). */
function unavailable(event: string, error: unknown): DatabaseUnavailableError {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  console.error(
    JSON.stringify({
      level: "error",
      event,
      error_name: error instanceof Error ? error.name : typeof error,
      sql_state: typeof code === "string" ? code : undefined,
    }),
  );
  return new DatabaseUnavailableError();
}

/** One per role and isolate: the driver keeps no connection, only the URL. */
export function createDatabase({
  connectionString,
  localEndpoint,
  requestTimeoutMs = 8000,
  tenantScope,
}: DatabaseOptions): Database {
  if (localEndpoint !== undefined) {
    // The driver reads its endpoint only from its global configuration; local mode is the only
    // place it is changed, so production keeps Neon's default.
    neonConfig.fetchEndpoint = localEndpoint.url;
  }
  const sql = neon(connectionString, localEndpoint === undefined ? {} : { authToken: localEndpoint.secret });

  return {
    async read(queries, scope) {
      let scoped: readonly Query<unknown>[] = queries;
      if (scope !== undefined) {
        if (tenantScope === undefined) throw new Error("a tenant-scoped read needs the database's tenantScope");
        scoped = [await tenantScope(scope.tenant), ...queries];
      }
      const statements = scoped.map((query) => sql.query(query.text, [...query.params]));
      let rowSets: unknown;
      try {
        // Repeatable read: every statement of the batch sees the same snapshot.
        rowSets = await sql.transaction(statements, {
          readOnly: true,
          isolationLevel: "RepeatableRead",
          fetchOptions: { signal: AbortSignal.timeout(requestTimeoutMs) },
        });
      } catch (error) {
        throw unavailable("database_error", error);
      }
      // An answer of the wrong shape (a proxy fault, a truncated body) is a failed request too, not
      // a TypeError in a decoder that would surface as a 500.
      try {
        if (!Array.isArray(rowSets) || rowSets.length !== statements.length || !rowSets.every(Array.isArray)) {
          throw new TypeError("the answer does not hold one row set per statement");
        }
        const own = (scope === undefined ? rowSets : rowSets.slice(1)) as Row[][];
        return queries.map((query, index) => query.decode(own[index]!)) as Results<typeof queries>;
      } catch (error) {
        throw unavailable("database_answer_malformed", error);
      }
    },
  };
}
