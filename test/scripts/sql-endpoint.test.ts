/**
 * Contract of the local stand-in for Neon's SQL endpoint, proved with the real driver
 * (@neondatabase/serverless `neon()`) and with raw requests where the wire format itself is the
 * point. On a real PostgreSQL: roles, their settings and backends exist only there.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import { NeonDbError, neon, neonConfig } from "@neondatabase/serverless";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../scripts/lib/migrate.ts";
import { type RoleUrls, type RunningPostgres, roleUrls, startPostgres } from "../../scripts/lib/postgres.ts";
import {
  InjectedAnswer,
  InjectedHangUp,
  type SqlEndpoint,
  type SqlRequest,
  simulatedRoundTrip,
  startSqlEndpoint,
} from "../../scripts/lib/sql-endpoint.ts";

const SECRET = randomBytes(32).toString("base64url");
let postgres: RunningPostgres;
let roles: RoleUrls;
let endpoint: SqlEndpoint;
let hook: ((request: SqlRequest) => Promise<void>) | undefined;

/**
 * This machine's addresses outside loopback (link-local IPv6 left out: it needs an interface to
 * connect through). None on a machine without a network: the test that needs one is skipped then.
 */
const NON_LOOPBACK = Object.values(os.networkInterfaces())
  .flat()
  .filter((entry) => entry !== undefined && !entry.internal && !entry.address.startsWith("fe80:"))
  .map((entry) => entry!.address);

/** What a TCP connection to `host:port` comes to: "connected", or the error code. */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve("timeout");
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** The driver as the worker uses it: the endpoint's secret is its bearer token. */
const driver = (url: string, secret = SECRET) => neon(url, { authToken: secret });

interface RawAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** A request with exactly these headers (Host included), to test the wire format and the locks. */
function rawPost(body: unknown, headers: Record<string, string>, method = "POST"): Promise<RawAnswer> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      endpoint.url,
      { method, headers: { "Content-Type": "application/json", ...headers } },
      (response) => {
        let received = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (received += chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            body: received === "" ? {} : (JSON.parse(received) as Record<string, unknown>),
          }),
        );
      },
    );
    request.on("error", reject);
    request.end(text);
  });
}

const neonHeaders = (connectionString: string, extra: Record<string, string> = {}) => ({
  Authorization: `Bearer ${SECRET}`,
  "Neon-Connection-String": connectionString,
  "Neon-Raw-Text-Output": "true",
  "Neon-Array-Mode": "true",
  ...extra,
});

beforeAll(async () => {
  postgres = await startPostgres("postgresql");
  await migrate(postgres.databaseUrl);
  roles = await roleUrls(postgres);
  const owner = new pg.Client({ connectionString: postgres.databaseUrl });
  await owner.connect();
  await owner.query("create table contract_scratch (id int primary key, note text)").finally(() => owner.end());
  endpoint = await startSqlEndpoint({
    connectionStrings: [postgres.databaseUrl, roles.metricsUrl, roles.authUrl],
    secret: SECRET,
    maxConnectionsPerRole: 2,
    beforeExecute: (request) => hook?.(request) ?? Promise.resolve(),
  });
  neonConfig.fetchEndpoint = endpoint.url;
});

afterAll(async () => {
  await endpoint?.close();
  await postgres?.stop();
});

describe("local SQL endpoint: Neon's protocol", () => {
  it("answers one query with fields and every value as Postgres text", async () => {
    const answer = await rawPost(
      {
        query:
          "select $1::int4 as i, 9007199254740993::int8 as big, true as t, null::text as n, '{1,2}'::int[] as a, '2026-11-29'::date as d, $2::jsonb as j",
        params: ["41", '{"k":1}'],
      },
      neonHeaders(roles.metricsUrl),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      command: "SELECT",
      rowCount: 1,
      rowAsArray: true,
      rows: [["41", "9007199254740993", "t", null, "{1,2}", "2026-11-29", '{"k": 1}']],
    });
    const fields = answer.body.fields as { name: string; dataTypeID: number; format: string }[];
    expect(fields.map((field) => [field.name, field.dataTypeID, field.format])).toEqual([
      ["i", 23, "text"],
      ["big", 20, "text"],
      ["t", 16, "text"],
      ["n", 25, "text"],
      ["a", 1007, "text"],
      ["d", 1082, "text"],
      ["j", 3802, "text"],
    ]);
  });

  it("lets the driver's own type parsers read the text, by dataTypeID", async () => {
    const sql = driver(roles.metricsUrl);
    const rows = await sql.query(
      "select $1::int4 as i, 2::int8 as big, true as t, null::text as n, '{1,2}'::int[] as a, '2026-11-29T00:00:00Z'::timestamptz as at, '{\"k\":1}'::jsonb as j",
      [41],
    );
    expect(rows).toEqual([
      { i: 41, big: "2", t: true, n: null, a: [1, 2], at: new Date("2026-11-29T00:00:00Z"), j: { k: 1 } },
    ]);
  });

  it("answers rows as objects without Neon-Array-Mode, and as arrays to the driver's arrayMode", async () => {
    const objects = await rawPost(
      { query: "select 1 as one", params: [] },
      neonHeaders(roles.metricsUrl, { "Neon-Array-Mode": "false" }),
    );
    expect(objects.body).toMatchObject({ rows: [{ one: "1" }], rowAsArray: false });
    expect(
      await neon(roles.metricsUrl, { authToken: SECRET, arrayMode: true }).query("select 1 as one, 'x' as two"),
    ).toEqual([[1, "x"]]);
  });

  it("binds parameters as values, never as SQL", async () => {
    const payload = "'; drop table contract_scratch; --";
    expect(await driver(roles.metricsUrl).query("select $1::text as v", [payload])).toEqual([{ v: payload }]);
  });

  it("runs a batch between BEGIN with the requested isolation, read-only and deferrable options, and COMMIT", async () => {
    // As the owner: the metrics role is read-only by default, which would hide the option.
    const sql = driver(postgres.databaseUrl);
    const settings = ["transaction_isolation", "transaction_read_only", "transaction_deferrable"].map((name) =>
      sql.query("select current_setting($1) as v", [name]),
    );
    const strict = await sql.transaction(settings, {
      isolationLevel: "Serializable",
      readOnly: true,
      deferrable: true,
    });
    expect(strict.map((rows) => (rows as { v: string }[])[0]!.v)).toEqual(["serializable", "on", "on"]);
    const plain = await sql.transaction(
      ["transaction_isolation", "transaction_read_only"].map((name) =>
        sql.query("select current_setting($1) as v", [name]),
      ),
    );
    expect(plain.map((rows) => (rows as { v: string }[])[0]!.v)).toEqual(["read committed", "off"]);
  });

  it('honours Neon-Batch-Read-Only only for exactly "true", and refuses an unknown isolation level with 400', async () => {
    const batch = { queries: [{ query: "select current_setting('transaction_read_only') as v", params: [] }] };
    const loose = await rawPost(batch, neonHeaders(postgres.databaseUrl, { "Neon-Batch-Read-Only": "TRUE" }));
    expect(loose.body).toMatchObject({ results: [{ rows: [["off"]] }] });
    const unknown = await rawPost(batch, neonHeaders(roles.metricsUrl, { "Neon-Batch-Isolation-Level": "Chaos" }));
    expect(unknown.status).toBe(400);
  });

  it("commits a batch, and rolls the whole batch back when a statement fails", async () => {
    const sql = driver(postgres.databaseUrl);
    await sql.transaction([sql.query("insert into contract_scratch values (1, 'kept')")]);
    const failed = await sql
      .transaction([sql.query("insert into contract_scratch values (2, 'lost')"), sql.query("select 1 / 0")])
      .catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(NeonDbError);
    expect((failed as NeonDbError).code).toBe("22012");
    expect(await sql.query("select id, note from contract_scratch order by id")).toEqual([{ id: 1, note: "kept" }]);
  });

  it("answers a Postgres error with HTTP 400 and its fields, which the driver turns into a NeonDbError", async () => {
    const raw = await rawPost({ query: "select * from no_such_table", params: [] }, neonHeaders(roles.metricsUrl));
    expect(raw.status).toBe(400);
    expect(raw.body).toMatchObject({
      code: "42P01",
      severity: "ERROR",
      position: "15",
      message: 'relation "no_such_table" does not exist',
    });
    const error = await driver(roles.metricsUrl)
      .query("select * from no_such_table")
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(NeonDbError);
    expect(error).toMatchObject({ code: "42P01", position: "15" });
  });

  it("scopes set_config(…, true) to its transaction: the next request on the pooled connection does not see it", async () => {
    const sql = driver(roles.metricsUrl);
    const [, scoped] = await sql.transaction([
      sql.query("select set_config('app.tenant', $1, true)", ["acme"]),
      sql.query("select current_setting('app.tenant', true) as v"),
    ]);
    expect(scoped).toEqual([{ v: "acme" }]);
    for (let i = 0; i < 6; i++)
      expect(await sql.query("select coalesce(current_setting('app.tenant', true), '') as v")).toEqual([{ v: "" }]);
  });

  it("pools connections per role: requests reuse backends instead of starting one each", async () => {
    const sql = driver(roles.metricsUrl);
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++)
      pids.add(((await sql.query("select pg_backend_pid() as pid")) as { pid: number }[])[0]!.pid);
    expect(pids.size).toBeLessThanOrEqual(2);
    expect(await driver(roles.authUrl).query("select current_user as role")).toEqual([{ role: "streamforge_auth" }]);
  });
});

describe("local SQL endpoint: locks", () => {
  const withAddresses = it.skipIf(NON_LOOPBACK.length === 0);
  withAddresses("listens on loopback only: from the machine's other addresses its port is closed", async () => {
    expect(new URL(endpoint.url).hostname).toBe("127.0.0.1");
    // The port is open on loopback, so a refusal elsewhere is about the address, not the port.
    expect(await connectOutcome("127.0.0.1", endpoint.port)).toBe("connected");
    for (const address of NON_LOOPBACK) {
      expect(`${address}: ${await connectOutcome(address, endpoint.port)}`).toBe(`${address}: ECONNREFUSED`);
    }
  });

  it("refuses a request that carries an Origin header, even with the right secret", async () => {
    const before = endpoint.executedRequests;
    const answer = await rawPost(
      { query: "select 1", params: [] },
      neonHeaders(roles.metricsUrl, { Origin: "http://localhost:5173" }),
    );
    expect(answer.status).toBe(403);
    expect(endpoint.executedRequests).toBe(before);
  });

  it("refuses a request without the per-run secret or with another one", async () => {
    const { Authorization: _omitted, ...withoutSecret } = neonHeaders(roles.metricsUrl);
    expect((await rawPost({ query: "select 1", params: [] }, withoutSecret)).status).toBe(401);
    expect(
      (
        await rawPost(
          { query: "select 1", params: [] },
          neonHeaders(roles.metricsUrl, { Authorization: `Bearer ${SECRET.slice(1)}x` }),
        )
      ).status,
    ).toBe(401);
    const error = await driver(roles.metricsUrl, "x".repeat(43))
      .query("select 1")
      .catch((failure: unknown) => failure);
    expect(String(error)).toContain("HTTP status 401");
  });

  it("refuses a foreign Host, so a rebound DNS name cannot reach it", async () => {
    expect(
      (
        await rawPost(
          { query: "select 1", params: [] },
          neonHeaders(roles.metricsUrl, { Host: `attacker.example:${endpoint.port}` }),
        )
      ).status,
    ).toBe(421);
  });

  it("reaches only its configured databases: another password, database or server is refused before any query", async () => {
    const before = endpoint.executedRequests;
    const other = (edit: (url: URL) => void) => {
      const url = new URL(roles.metricsUrl);
      edit(url);
      return url.toString();
    };
    for (const connectionString of [
      other((url) => (url.password = "guessed")),
      other((url) => (url.pathname = "/postgres")),
      other((url) => (url.port = "1")),
      other((url) => (url.hostname = "192.0.2.10")),
      "not a url",
    ]) {
      expect((await rawPost({ query: "select 1", params: [] }, neonHeaders(connectionString))).status).toBe(403);
    }
    expect(endpoint.executedRequests).toBe(before);
  });

  it("keeps a role's own statement timeout: startup options in the connection string never reach the server", async () => {
    const url = new URL(roles.authUrl);
    url.searchParams.set("options", "-c statement_timeout=5000");
    expect(await driver(url.toString()).query("select current_setting('statement_timeout') as v")).toEqual([
      { v: "2s" },
    ]);
  });

  it("answers only POST /sql and refuses bodies over Neon's 10 MiB", async () => {
    expect((await rawPost({ query: "select 1", params: [] }, neonHeaders(roles.metricsUrl), "GET")).status).toBe(404);
    // Announced, never sent: the refusal must come before the body is read. A raw socket, because
    // an HTTP client would not read the answer before it had sent the body.
    const statusLine = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(endpoint.port, "127.0.0.1", () => {
        const headers = Object.entries(neonHeaders(roles.metricsUrl))
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join("");
        socket.write(
          `POST /sql HTTP/1.1\r\nHost: 127.0.0.1:${endpoint.port}\r\n${headers}Content-Length: ${11 * 1024 * 1024}\r\n\r\n`,
        );
      });
      socket.once("data", (chunk) => {
        resolve(chunk.toString("latin1").split("\r\n")[0]!);
        socket.destroy();
      });
      socket.once("error", reject);
    });
    expect(statusLine).toBe("HTTP/1.1 413 Payload Too Large");
  });
});

describe("local SQL endpoint: latency and fault injection", () => {
  it("holds each request for the simulated round trip before it runs, and counts it as one", async () => {
    hook = simulatedRoundTrip(150);
    try {
      const before = endpoint.executedRequests;
      const started = performance.now();
      const sql = driver(roles.metricsUrl);
      await sql.transaction([sql.query("select 1"), sql.query("select 2"), sql.query("select 3")]);
      expect(performance.now() - started).toBeGreaterThanOrEqual(145);
      expect(endpoint.executedRequests - before).toBe(1);
    } finally {
      hook = undefined;
    }
  });

  it("fails a request as a server error when the hook throws, without running it", async () => {
    hook = () => Promise.reject(new Error("injected"));
    try {
      const before = endpoint.executedRequests;
      const error = await driver(roles.metricsUrl)
        .query("select 1")
        .catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(NeonDbError);
      expect(String(error)).toContain("HTTP status 500");
      expect(String(error)).not.toContain("injected");
      expect(endpoint.executedRequests).toBe(before);
    } finally {
      hook = undefined;
    }
  });

  it("tells the hook the connection string's application_name, and still selects the pool without it", async () => {
    const seen: string[] = [];
    hook = async (request) => void seen.push(request.applicationName);
    try {
      const named = new URL(roles.metricsUrl);
      named.searchParams.set("application_name", "fault-x");
      const [row] = await driver(named.toString()).query("select current_user as role");
      await driver(roles.metricsUrl).query("select 1");
      // Without one, the driver names itself: no fault name reaches a hook by accident.
      expect({ row, seen }).toEqual({
        row: { role: "streamforge_metrics" },
        seen: ["fault-x", expect.stringMatching(/^pkg:npm\/%40neondatabase\/serverless@/)],
      });
    } finally {
      hook = undefined;
    }
  });

  it("answers exactly what the hook injects, without running the request", async () => {
    hook = () => Promise.reject(new InjectedAnswer(200, "<html>not json</html>"));
    try {
      const before = endpoint.executedRequests;
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const request = http.request(
          endpoint.url,
          { method: "POST", headers: { "Content-Type": "application/json", ...neonHeaders(roles.metricsUrl) } },
          (response) => {
            let text = "";
            response.on("data", (chunk: Buffer) => (text += chunk.toString()));
            response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
          },
        );
        request.on("error", reject);
        request.end(JSON.stringify({ query: "select 1", params: [] }));
      });
      expect(answer).toEqual({ status: 200, text: "<html>not json</html>" });
      expect(endpoint.executedRequests).toBe(before);
    } finally {
      hook = undefined;
    }
  });

  it("hangs up without an answer when the hook says so", async () => {
    hook = () => Promise.reject(new InjectedHangUp());
    try {
      const error = await driver(roles.metricsUrl)
        .query("select 1")
        .catch((failure: unknown) => failure);
      // No HTTP status at all: the driver reports a connection failure, not a server error.
      expect(String(error)).toContain("Error connecting to database");
      expect(String(error)).not.toContain("HTTP status");
    } finally {
      hook = undefined;
    }
  });
});
