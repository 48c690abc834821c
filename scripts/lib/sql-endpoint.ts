/**
 * A local stand-in for Neon's SQL-over-HTTP endpoint (`POST /sql`), so the worker runs the same
 * driver path (`neon()`, `sql.transaction()`) on a developer's machine and in CI as in production.
 * It follows the protocol as the driver (@neondatabase/serverless `httpQuery`) and Neon's proxy
 * (`sql_over_http.rs`) define it; docs/neon-http.md has the facts:
 *
 * - `{query, params}` or `{queries: [...]}` with `Neon-Connection-String`, `Neon-Raw-Text-Output`,
 *   `Neon-Array-Mode` and, for a batch, `Neon-Batch-Isolation-Level` / `-Read-Only` / `-Deferrable`;
 * - answers carry `fields` (with `dataTypeID`) and every value as Postgres text, so the driver's own
 *   type parsers run (raw text output is what the driver always asks for, and the only form served);
 *   a Postgres error is HTTP 400 with `code`, `message` and its other fields;
 * - a batch runs on one connection between BEGIN (with the requested options) and COMMIT, or
 *   ROLLBACK on error; connections are pooled per role, so no request starts a backend.
 *
 * Locks, because it holds database credentials: it listens on 127.0.0.1 only, wants the per-run
 * secret as `Authorization: Bearer` (the driver's `authToken`), refuses any request with an
 * `Origin` header (a web page the developer visits cannot reach it) or a foreign `Host` (DNS
 * rebinding), and runs queries only for the connection strings it was started with; a client's
 * query parameters (`options=-c statement_timeout=…`) never reach the server, so roles keep their
 * own settings.
 *
 * `beforeExecute` is the one hook for benchmarks and fault injection: it runs before each accepted
 * request touches the database; await in it to add latency (`simulatedRoundTrip`), throw to fail
 * the request as a server error, throw `InjectedAnswer` to answer with exactly that status and body
 * (garbage, or what Neon's proxy says when the backend dies), or `InjectedHangUp` to drop the
 * connection without an answer. `SqlRequest.applicationName` (the connection string's
 * `application_name`, otherwise ignored) lets a hook single out one client.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { DatabaseError, FieldDef, PoolClient, Pool as PoolType } from "pg";

const require = createRequire(import.meta.url);
const { Pool } = require("pg") as typeof import("pg");

/** Neon's proxy caps requests and responses at 10 MiB. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const LOOPBACK_ADDRESSES = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);
const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: "read uncommitted",
  ReadCommitted: "read committed",
  RepeatableRead: "repeatable read",
  Serializable: "serializable",
};
const ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;
/** Every column comes back as the text Postgres sent: the driver parses it by `dataTypeID`. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

export interface SqlRequest {
  /** The role (user name) of the connection string the request named. */
  role: string;
  /** `application_name` of that connection string, or "": lets a hook pick out one client. */
  applicationName: string;
  /** Statements in the request: 1 for a single query, n for a batch. */
  statements: number;
  transaction: boolean;
}

export interface SqlEndpointOptions {
  /** The only connection strings it serves (one pool each); anything else is refused with 403. */
  connectionStrings: readonly string[];
  /** Per-run secret the worker sends as `Authorization: Bearer`; at least 32 characters. */
  secret: string;
  /** Default: a free port. */
  port?: number;
  /** Connections per role. Default 8. */
  maxConnectionsPerRole?: number;
  /**
   * Run one request at a time. PGlite has a single session shared by every connection, so an
   * open transaction would block (or see) another request's statements. Default false.
   */
  serialize?: boolean;
  /** See the file comment: latency and fault injection. Default none. */
  beforeExecute?: (request: SqlRequest) => Promise<void>;
}

export interface SqlEndpoint {
  /** `http://127.0.0.1:port/sql`, for the worker's `LOCAL_SQL_ENDPOINT`. */
  url: string;
  port: number;
  /** Requests that reached the database since start: each is one round trip of the worker. */
  readonly executedRequests: number;
  close(): Promise<void>;
}

class HttpRefusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Thrown by `beforeExecute`: the request is answered with exactly this status and body. */
export class InjectedAnswer extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super("injected answer");
    this.status = status;
    this.body = body;
  }
}

/** Thrown by `beforeExecute`: the connection is dropped without an answer. */
export class InjectedHangUp extends Error {
  constructor() {
    super("injected hang-up");
  }
}

interface QueryData {
  query: string;
  params: unknown[];
}

/** A fixed delay before each request: a round trip between the worker and the database. */
export function simulatedRoundTrip(milliseconds: number): (request: SqlRequest) => Promise<void> {
  return () => new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Role, password, host, port and database: what selects a pool. Query parameters are ignored on purpose. */
function connectionKey(connectionString: string): string | undefined {
  try {
    const url = new URL(connectionString);
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return undefined;
    return JSON.stringify([
      decodeURIComponent(url.username),
      decodeURIComponent(url.password),
      url.hostname,
      url.port || "5432",
      url.pathname,
    ]);
  } catch {
    return undefined;
  }
}

const digest = (text: string) => createHash("sha256").update(text).digest();

function parseQuery(value: unknown): QueryData {
  if (typeof value !== "object" || value === null) throw new HttpRefusal(400, "each query must be an object");
  const { query, params = [] } = value as { query?: unknown; params?: unknown };
  if (typeof query !== "string") throw new HttpRefusal(400, "query must be a string");
  if (
    !Array.isArray(params) ||
    params.some(
      (param) => param !== null && typeof param !== "string" && typeof param !== "number" && typeof param !== "boolean",
    )
  ) {
    throw new HttpRefusal(400, "params must be an array of strings, numbers, booleans or nulls");
  }
  return { query, params };
}

function parseBody(text: string): { queries: QueryData[]; transaction: boolean } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpRefusal(400, "body is not JSON");
  }
  if (typeof body === "object" && body !== null && "queries" in body) {
    const { queries } = body as { queries: unknown };
    if (!Array.isArray(queries)) throw new HttpRefusal(400, "queries must be an array");
    return { queries: queries.map(parseQuery), transaction: true };
  }
  return { queries: [parseQuery(body)], transaction: false };
}

function beginStatement(headers: http.IncomingHttpHeaders): string {
  const parts = ["begin"];
  const isolation = headers["neon-batch-isolation-level"];
  if (isolation !== undefined) {
    const level = typeof isolation === "string" ? ISOLATION_LEVELS[isolation] : undefined;
    if (level === undefined) throw new HttpRefusal(400, "unknown Neon-Batch-Isolation-Level");
    parts.push("isolation level", level);
  }
  // As in Neon's proxy: only the exact value "true" switches these on.
  if (headers["neon-batch-read-only"] === "true") parts.push("read only");
  if (headers["neon-batch-deferrable"] === "true") parts.push("deferrable");
  return parts.join(" ");
}

async function runQuery(client: PoolClient, { query, params }: QueryData, arrayMode: boolean) {
  const result = await client.query({ text: query, values: params, rowMode: "array", types: RAW_TEXT });
  const fields = result.fields.map((field: FieldDef) => ({
    name: field.name,
    dataTypeID: field.dataTypeID,
    tableID: field.tableID,
    columnID: field.columnID,
    dataTypeSize: field.dataTypeSize,
    dataTypeModifier: field.dataTypeModifier,
    format: "text",
  }));
  const rows = arrayMode
    ? result.rows
    : (result.rows as unknown[][]).map((row) =>
        Object.fromEntries(row.map((value, index) => [fields[index]!.name, value])),
      );
  return { command: result.command, rowCount: result.rowCount, rows, fields, rowAsArray: arrayMode };
}

function isDatabaseError(error: unknown): error is DatabaseError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string" && "severity" in error;
}

export async function startSqlEndpoint(options: SqlEndpointOptions): Promise<SqlEndpoint> {
  if (options.secret.length < 32) throw new Error("the SQL endpoint's secret must be at least 32 characters");
  const expectedAuthorization = digest(`Bearer ${options.secret}`);
  const pools = new Map<string, { role: string; pool: PoolType }>();
  for (const connectionString of options.connectionStrings) {
    const key = connectionKey(connectionString);
    if (key === undefined) throw new Error("not a postgres:// connection string");
    if (pools.has(key)) continue;
    const pool = new Pool({ connectionString, max: options.maxConnectionsPerRole ?? 8, idleTimeoutMillis: 30_000 });
    // An idle connection that the server drops must not crash the process; the next checkout reconnects.
    pool.on("error", () => undefined);
    pools.set(key, { role: decodeURIComponent(new URL(connectionString).username), pool });
  }
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    if (!options.serialize) return work();
    const result = queue.then(work, work);
    queue = result.catch(() => undefined);
    return result;
  };
  let executedRequests = 0;
  let allowedHosts = new Set<string>();

  function authorize(request: http.IncomingMessage): void {
    if (!LOOPBACK_ADDRESSES.has(request.socket.remoteAddress ?? ""))
      throw new HttpRefusal(403, "loopback clients only");
    if (request.headers.origin !== undefined) throw new HttpRefusal(403, "requests from web pages are refused");
    if (!allowedHosts.has(request.headers.host ?? "")) throw new HttpRefusal(421, "unexpected Host");
    if (request.method !== "POST" || new URL(request.url ?? "/", "http://localhost").pathname !== "/sql")
      throw new HttpRefusal(404, "POST /sql only");
    const presented = digest(request.headers.authorization ?? "");
    if (!timingSafeEqual(presented, expectedAuthorization))
      throw new HttpRefusal(401, "missing or wrong bearer secret");
  }

  async function readBody(request: http.IncomingMessage): Promise<string> {
    if (Number(request.headers["content-length"] ?? 0) > MAX_BODY_BYTES)
      throw new HttpRefusal(413, "request body too large");
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new HttpRefusal(413, "request body too large");
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  async function execute(request: http.IncomingMessage): Promise<unknown> {
    const target = pools.get(connectionKey(String(request.headers["neon-connection-string"] ?? "")) ?? "");
    if (target === undefined) throw new HttpRefusal(403, "this endpoint serves only its configured databases");
    if (request.headers["neon-raw-text-output"] !== "true")
      throw new HttpRefusal(400, "only Neon-Raw-Text-Output: true is supported");
    const arrayMode = request.headers["neon-array-mode"] === "true";
    const { queries, transaction } = parseBody(await readBody(request));
    const begin = transaction ? beginStatement(request.headers) : undefined;
    const applicationName =
      new URL(String(request.headers["neon-connection-string"])).searchParams.get("application_name") ?? "";
    await options.beforeExecute?.({ role: target.role, applicationName, statements: queries.length, transaction });
    return exclusive(async () => {
      executedRequests += 1;
      const client = await target.pool.connect();
      let broken = false;
      try {
        if (begin === undefined) return await runQuery(client, queries[0]!, arrayMode);
        await client.query(begin);
        try {
          const results = [];
          for (const query of queries) results.push(await runQuery(client, query, arrayMode));
          await client.query("commit");
          return { results };
        } catch (error) {
          await client.query("rollback").catch(() => (broken = true));
          throw error;
        }
      } catch (error) {
        // A connection that failed below the SQL level is not handed to the next request.
        if (!isDatabaseError(error)) broken = true;
        throw error;
      } finally {
        client.release(broken);
      }
    });
  }

  const server = http.createServer((request, response) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response
        .writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) })
        .end(text);
    };
    void (async () => {
      try {
        authorize(request);
        const result = JSON.stringify(await execute(request));
        if (Buffer.byteLength(result) > MAX_BODY_BYTES)
          return send(400, { message: "response is too large (max is 10485760 bytes)" });
        response
          .writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(result) })
          .end(result);
      } catch (error) {
        if (error instanceof HttpRefusal) return send(error.status, { message: error.message });
        if (error instanceof InjectedHangUp) return request.socket.destroy();
        if (error instanceof InjectedAnswer) {
          return response
            .writeHead(error.status, {
              "Content-Type": "application/json",
              "Content-Length": Buffer.byteLength(error.body),
            })
            .end(error.body);
        }
        if (isDatabaseError(error)) {
          const fields = Object.fromEntries(
            ERROR_FIELDS.filter((name) => error[name] !== undefined).map((name) => [name, error[name]]),
          );
          return send(400, { message: error.message, ...fields });
        }
        send(500, { message: "the database could not be reached" });
      }
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}/sql`,
    port,
    get executedRequests() {
      return executedRequests;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...pools.values()].map(({ pool }) => pool.end()));
    },
  };
}
