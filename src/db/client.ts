/**
 * Postgres through the Neon serverless driver. A `Client` lives for exactly one request: Workers
 * cannot share an I/O object across requests, so each call connects, runs, and ends the connection
 * in `waitUntil`. Local mode points the driver at the loopback WebSocket→TCP bridge with TLS off;
 * every other mode keeps the driver's defaults (wss:// to the proxy, TLS to the database).
 */
import { Client } from "@neondatabase/serverless";
import type { AppConfig } from "../env.ts";
import { AppError } from "../errors.ts";

export interface DatabaseOptions {
  connectionString: string;
  config: AppConfig;
  waitUntil: (promise: Promise<unknown>) => void;
  /** Upper bound on connecting, so an unreachable database fails fast. Default 5000. */
  connectTimeoutMs?: number;
  /** Server-side `statement_timeout`. Default 5000. */
  statementTimeoutMs?: number;
}

export type Queryable = Pick<Client, "query">;

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

function createClient(options: DatabaseOptions): Client {
  const client = new Client({
    connectionString: options.connectionString,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    statement_timeout: options.statementTimeoutMs ?? 5000,
    query_timeout: (options.statementTimeoutMs ?? 5000) + 1000,
  });
  const bridge = options.config.LOCAL_DB_BRIDGE;
  if (options.config.APP_ENV === "local" && bridge !== undefined) {
    client.neonConfig.wsProxy = (host, port) => `${bridge}/v2?address=${host}:${port}`;
    client.neonConfig.useSecureWebSocket = false;
    client.neonConfig.pipelineTLS = false;
    client.neonConfig.pipelineConnect = false;
    client.neonConfig.forceDisablePgSSL = true;
  }
  return client;
}

/** Runs `work` on a fresh connection; any driver failure becomes `DatabaseUnavailableError`. */
export async function withDatabase<T>(options: DatabaseOptions, work: (db: Queryable) => Promise<T>): Promise<T> {
  const client = createClient(options);
  // An error event on an idle connection must not crash the isolate; the awaited call below reports it.
  client.on("error", () => {});
  let connected = false;
  try {
    await client.connect();
    connected = true;
    return await work(client);
  } catch (error) {
    if (error instanceof AppError) throw error;
    // The driver's message can quote SQL or connection details: log only its class and SQLSTATE.
    console.error(
      JSON.stringify({
        level: "error",
        event: "database_error",
        error_name: error instanceof Error ? error.name : typeof error,
        sql_state: (error as { code?: unknown }).code,
      }),
    );
    throw new DatabaseUnavailableError();
  } finally {
    // After a failed connect the socket is already closed; ending it again throws inside the driver.
    if (connected) options.waitUntil(client.end().catch(() => {}));
  }
}
