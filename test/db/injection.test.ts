import { describe, expect, it, vi } from "vitest";
import { DEMO_TENANTS } from "../../scripts/lib/demo-data.ts";
import { createDatabase, DatabaseUnavailableError } from "../../src/db/client.ts";
import { listStreams, streamExists, streamTimeseries } from "../../src/db/metrics.ts";
import { tenantScope } from "../../src/db/tenant-scope.ts";
import { findLoginRecord } from "../../src/db/users.ts";
import { tableFingerprint } from "../support/owner-db.ts";
import { testEnv } from "../support/test-env.ts";

const localEndpoint = { url: testEnv.LOCAL_SQL_ENDPOINT, secret: testEnv.LOCAL_SQL_SECRET };
const metrics = createDatabase({ connectionString: testEnv.DATABASE_URL, localEndpoint, tenantScope: tenantScope({ key: testEnv.TENANT_SCOPE_KEY }) });
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
    const [exists, points] = await metrics.read([streamExists(hostile), streamTimeseries(hostile, fromIso, toIso, 60)], { tenant: acme.slug });
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
    await expect(metrics.read([streamExists("a\u0000b")], { tenant: acme.slug })).rejects.toBeInstanceOf(DatabaseUnavailableError);
    expect(log.mock.calls.join("\n")).toContain('"sql_state":"22021"');
    expect(await tableFingerprint()).toEqual(before);
    log.mockRestore();
  });
});
