import { afterEach, describe, expect, it, vi } from "vitest";
import { DatabaseUnavailableError, withDatabase } from "../../src/db/client.ts";
import type { AppConfig } from "../../src/env.ts";
import { testEnv } from "../support/test-env.ts";

const LOCAL = { APP_ENV: "local", LOCAL_DB_BRIDGE: testEnv.LOCAL_DB_BRIDGE } as AppConfig;

function run<T>(connectionString: string, work: Parameters<typeof withDatabase<T>>[1], statementTimeoutMs?: number): Promise<T> {
  const pending: Promise<unknown>[] = [];
  return withDatabase({ connectionString, config: LOCAL, waitUntil: (p) => pending.push(p), statementTimeoutMs }, work).finally(() => Promise.all(pending));
}

describe("database client", () => {
  afterEach(() => vi.restoreAllMocks());

  it("runs a parameterized query as the metrics role", async () => {
    const rows = await run(testEnv.DATABASE_URL, async (db) => (await db.query<{ answer: number }>("select $1::int + 1 as answer", [41])).rows);
    expect(rows).toEqual([{ answer: 42 }]);
  });

  it("turns a statement past its timeout into a 503 problem that says nothing of the query", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const failure = await run(testEnv.DATABASE_URL, (db) => db.query("select pg_sleep(3)"), 200).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DatabaseUnavailableError);
    expect((failure as DatabaseUnavailableError).problem).toMatchObject({ status: 503, headers: { "Retry-After": "5" } });
    // SQLSTATE 57014 is query_canceled: the server enforced the timeout.
    expect(log.mock.calls.join("\n")).toContain('"sql_state":"57014"');
    expect(log.mock.calls.join("\n")).not.toContain("pg_sleep");
  });
});
