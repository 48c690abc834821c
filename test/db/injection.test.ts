/**
 * SQL injection, where a payload can reach SQL. Straight into the query layer, with no validation
 * in front, hostile text must come back as a value: no row found, no row of another tenant, no
 * statement changed. Through the routes, only what the schemas let through can reach a query, so
 * the payloads there are the ones that pass them (a stream name with `--`, `_` or `.`) and the
 * answers show the query ran. Every read is a read-only transaction under a read-only role, so a
 * write is doubly impossible; the table fingerprint is kept as a net for the day either changes,
 * and a test below shows it does move when a row changes.
 */
import { neon } from "@neondatabase/serverless";
import { describe, expect, it, vi } from "vitest";
import { DEMO_TENANTS } from "../../scripts/lib/demo-data.ts";
import { createDatabase, DatabaseUnavailableError } from "../../src/db/client.ts";
import { listStreams, streamExists, streamTimeseries } from "../../src/db/metrics.ts";
import { tenantScope } from "../../src/db/tenant-scope.ts";
import { findLoginRecord } from "../../src/db/users.ts";
import { fetchWorker } from "../support/app.ts";
import { TEST_API_KEYS } from "../support/constants.ts";
import { tableFingerprint } from "../support/owner-db.ts";
import { testEnv } from "../support/test-env.ts";

const localEndpoint = { url: testEnv.LOCAL_SQL_ENDPOINT, secret: testEnv.LOCAL_SQL_SECRET };
const metrics = createDatabase({
  connectionString: testEnv.DATABASE_URL,
  localEndpoint,
  tenantScope: tenantScope({ key: testEnv.TENANT_SCOPE_KEY }),
});
const auth = createDatabase({ connectionString: testEnv.AUTH_DATABASE_URL, localEndpoint });

const [acme, globex] = DEMO_TENANTS;
/** Strings that would change the statement if they were ever spliced into its text. */
const HOSTILE = [
  "' OR 1=1 --",
  `${acme.streams[0]}' OR '1'='1`,
  `${globex.streams[0]}'; --`,
  "x'); drop table users; --",
  "' union select password_hash, null, null from users --",
  "$1",
  "%",
  "\\",
  `${acme.username}' --`,
  "😀".repeat(20),
];

describe("the table fingerprint", () => {
  it("moves when a row is written and comes back when it is undone: unchanged means nothing was written", async () => {
    // The owner's own session, outside the worker's read-only path: the only writer in this file.
    const owner = neon(testEnv.TEST_OWNER_DATABASE_URL, { authToken: testEnv.LOCAL_SQL_SECRET });
    const before = await tableFingerprint();
    const probe = "insert into streams (tenant_id, name) select id, 'fingerprint-probe' from tenants where slug = $1";
    await owner.query(probe, [acme.slug]);
    try {
      const written = await tableFingerprint();
      expect(written.streams).not.toEqual(before.streams);
      expect({ ...written, streams: before.streams }).toEqual(before);
    } finally {
      await owner.query("delete from streams where name = 'fingerprint-probe'");
    }
    expect(await tableFingerprint()).toEqual(before);
  });
});

describe("the query layer with hostile parameters (straight in, no validation in front)", () => {
  it("finds the real rows it should, so the checks below can fail", async () => {
    const [exists, streams] = await metrics.read([streamExists(acme.streams[0]), listStreams()], { tenant: acme.slug });
    expect(exists).toBe(true);
    expect(streams.map((stream) => stream.name).sort()).toEqual([...acme.streams].sort());
    const [record] = await auth.read([findLoginRecord(acme.username)]);
    expect(record?.tenant).toBe(acme.slug);
  });

  it.each(HOSTILE)("treats %j as a value: no stream, no points, no user, nothing written", async (hostile) => {
    const before = await tableFingerprint();
    const toIso = new Date().toISOString();
    const fromIso = new Date(Date.now() - 3_600_000).toISOString();
    const [exists, points] = await metrics.read(
      [streamExists(hostile), streamTimeseries(hostile, fromIso, toIso, 60)],
      { tenant: acme.slug },
    );
    expect(exists).toBe(false);
    expect(points).toEqual([]);
    const [record] = await auth.read([findLoginRecord(hostile)]);
    expect(record).toBeUndefined();
    expect(await tableFingerprint()).toEqual(before);
  });

  it("refuses a NUL byte at the database (22021), as the 503 a refused statement gets, writing nothing", async () => {
    // The API never sends one (stream names and user names are validated to plain characters).
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const before = await tableFingerprint();
    await expect(metrics.read([streamExists("a\u0000b")], { tenant: acme.slug })).rejects.toBeInstanceOf(
      DatabaseUnavailableError,
    );
    expect(log.mock.calls.join("\n")).toContain('"sql_state":"22021"');
    expect(await tableFingerprint()).toEqual(before);
    log.mockRestore();
  });
});

describe("the routes with payloads their schemas let through to SQL", () => {
  const from = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000).toISOString();
  const to = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
  let client = 0;
  const timeseries = (stream: string) => {
    client++;
    const query = new URLSearchParams({ stream, from, to, step: "5m" });
    return fetchWorker(`/metrics/timeseries?${query}`, {
      headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "CF-Connecting-IP": `10.66.0.${client}` },
    });
  };
  const code = async (response: Response) => {
    const problem = (await response.json()) as { code?: string };
    return `${response.status} ${problem.code ?? "ok"}`;
  };

  it("finds the tenant's stream by its exact name: a 404 below is the query's answer, not the schema's", async () => {
    expect(await code(await timeseries(acme.streams[0]))).toBe("200 ok");
  });

  it.each([
    // `--` would end the statement early if the name were spliced in without quotes.
    [`${acme.streams[0]}--`, "a comment"],
    // `_` matches any character under LIKE: a name compared with LIKE would find orders.created.
    [acme.streams[0].replace(".", "_"), "a LIKE wildcard"],
    [`${acme.streams[0]}.`, "a longer name"],
    // Another tenant's stream, under this tenant's key: row-level security, not the name, refuses it.
    [globex.streams[0], "another tenant's stream"],
  ])("answers %j (%s) with the query's 404, and writes nothing", async (stream) => {
    const before = await tableFingerprint();
    expect(await code(await timeseries(stream))).toBe("404 stream-not-found");
    expect(await tableFingerprint()).toEqual(before);
  });
});
