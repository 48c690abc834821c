import { afterEach, describe, expect, it, vi } from "vitest";
import { createDatabase, type Database, DatabaseUnavailableError } from "../../src/db/client.ts";
import { readinessCheck } from "../../src/db/health.ts";
import { tenantScope } from "../../src/db/tenant-scope.ts";
import { testEnv } from "../support/test-env.ts";

const localEndpoint = { url: testEnv.LOCAL_SQL_ENDPOINT, secret: testEnv.LOCAL_SQL_SECRET };

/** The real database, with a count of the requests that reach it. */
function counted(
  connectionString: string,
  scopeKey = testEnv.TENANT_SCOPE_KEY,
): { database: Database; requests: () => number } {
  const real = createDatabase({ connectionString, localEndpoint, tenantScope: tenantScope({ key: scopeKey }) });
  let requests = 0;
  return {
    database: {
      read(queries, scope) {
        requests += 1;
        return real.read(queries, scope);
      },
    },
    requests: () => requests,
  };
}

const pending: Promise<unknown>[] = [];
const waitUntil = (promise: Promise<unknown>) => void pending.push(promise);

describe("readiness check", () => {
  afterEach(async () => {
    await Promise.all(pending.splice(0));
    vi.restoreAllMocks();
  });

  it("answers 1,000 concurrent callers with one database request per interval", async () => {
    const { database, requests } = counted(testEnv.DATABASE_URL);
    let now = 1_000_000;
    const check = readinessCheck({ database, ttlMs: 5000, clock: () => now });
    const outcomes = await Promise.allSettled(Array.from({ length: 1000 }, () => check(waitUntil)));
    expect(outcomes.every((outcome) => outcome.status === "fulfilled")).toBe(true);
    expect(requests()).toBe(1);

    now += 4999;
    await check(waitUntil);
    expect(requests()).toBe(1);
    now += 1;
    await Promise.all(Array.from({ length: 100 }, () => check(waitUntil)));
    expect(requests()).toBe(2);
  });

  it("shares a failure for the interval too, so a dead database is not hammered by retries", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { database, requests } = counted("postgres://nobody:wrong@127.0.0.1:1/none?sslmode=disable");
    const check = readinessCheck({ database, ttlMs: 5000, clock: () => 42 });
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, () => check(waitUntil)));
    expect(
      outcomes.every((outcome) => outcome.status === "rejected" && outcome.reason instanceof DatabaseUnavailableError),
    ).toBe(true);
    expect(requests()).toBe(1);
  });

  it("is ready when the metrics role can open a tenant scope with the worker's key", async () => {
    const { database } = counted(testEnv.DATABASE_URL);
    await expect(readinessCheck({ database })(waitUntil)).resolves.toBeUndefined();
  });

  it("is not ready when the database holds another tenant scope key, though it answers queries", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { database } = counted(testEnv.DATABASE_URL, "another-key-than-the-database-holds-0123456789");
    await expect(database.read([{ text: "select 1", params: [], decode: () => undefined }])).resolves.toBeDefined();
    await expect(readinessCheck({ database })(waitUntil)).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });
});
