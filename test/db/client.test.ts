import { afterEach, describe, expect, it, vi } from "vitest";
import { createDatabase, DatabaseUnavailableError, type Query, type Row } from "../../src/db/client.ts";
import { tenantScope } from "../../src/db/tenant-scope.ts";
import { testEnv } from "../support/test-env.ts";

const localEndpoint = { url: testEnv.LOCAL_SQL_ENDPOINT, secret: testEnv.LOCAL_SQL_SECRET };
const metrics = createDatabase({
  connectionString: testEnv.DATABASE_URL,
  localEndpoint,
  tenantScope: tenantScope({ key: testEnv.TENANT_SCOPE_KEY }),
});
const owner = createDatabase({ connectionString: testEnv.TEST_OWNER_DATABASE_URL, localEndpoint });

const rowsOf = (text: string, params: unknown[] = []): Query<Row[]> => ({ text, params, decode: (rows) => rows });
const setting = (name: string): Query<string | null> => ({
  text: "select current_setting($1, true) as value",
  params: [name],
  decode: (rows) => rows[0]!.value as string | null,
});

async function failureOf(work: Promise<unknown>): Promise<{ error: unknown; log: string }> {
  const spy = vi.spyOn(console, "error").mockImplementation(() => {});
  const error = await work.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  return { error, log: spy.mock.calls.join("\n") };
}

describe("database client over Neon's HTTP path", () => {
  afterEach(() => vi.restoreAllMocks());

  it("runs parameterized statements as the metrics role and parses values by type", async () => {
    const [rows] = await metrics.read([
      rowsOf("select $1::int + 1 as answer, current_user as role, '2026-11-29T00:00:00Z'::timestamptz as at", [41]),
    ]);
    expect(rows).toEqual([{ answer: 42, role: "streamforge_metrics", at: new Date("2026-11-29T00:00:00Z") }]);
  });

  it("runs every statement in one read-only repeatable-read transaction", async () => {
    const [readOnly, isolation] = await metrics.read([
      setting("transaction_read_only"),
      setting("transaction_isolation"),
    ]);
    expect({ readOnly, isolation }).toEqual({ readOnly: "on", isolation: "repeatable read" });
  });

  it("scopes the transaction to the tenant, and the scope is gone once it commits", async () => {
    const [scoped] = await metrics.read([setting("app.tenant_scope")], { tenant: "acme" });
    expect(scoped).toMatch(/^\d{10}:[0-9a-f]{64}:acme$/);
    // The stand-in pools connections like Neon's proxy: later reads may reuse that connection.
    for (let i = 0; i < 5; i++) {
      const [after] = await metrics.read([setting("app.tenant_scope")]);
      expect(after ?? "").toBe("");
    }
  });

  it("reads a tenant's rows only through its scope token, and nothing after setting the tenant by hand", async () => {
    const count: Query<number> = {
      text: "select count(*)::int as n from streams",
      params: [],
      decode: (rows) => rows[0]!.n as number,
    };
    const setByHand: Query<void> = {
      text: "select set_config('app.tenant', 'acme', true)",
      params: [],
      decode: () => undefined,
    };
    const [scoped] = await metrics.read([count], { tenant: "acme" });
    const [, forged] = await metrics.read([setByHand, count]);
    expect({ scoped, forged }).toEqual({ scoped: 6, forged: 0 });
  });

  it("turns a scope made with a key the database does not hold into the 503 problem, logging only SQLSTATE 42501", async () => {
    const wrongKey = createDatabase({
      connectionString: testEnv.DATABASE_URL,
      localEndpoint,
      tenantScope: tenantScope({ key: "not-the-installed-tenant-scope-key-0123456789" }),
    });
    const { error, log } = await failureOf(wrongKey.read([setting("app.tenant_scope")], { tenant: "acme" }));
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(log).toContain('"sql_state":"42501"');
    expect(log).not.toContain("tenant scope refused");
  });

  it("refuses writes even as the owner: a 503 problem whose log names only the SQLSTATE", async () => {
    const { error, log } = await failureOf(
      owner.read([rowsOf("insert into tenants (slug, name) values ('mallory', 'Mallory') returning id")]),
    );
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    // 25006 is read_only_sql_transaction.
    expect(log).toContain('"sql_state":"25006"');
    expect(log).not.toContain("mallory");
  });

  it("keeps the auth role's own 2 s statement timeout: a slow statement becomes a 503 that says nothing of the query", async () => {
    const auth = createDatabase({ connectionString: testEnv.AUTH_DATABASE_URL, localEndpoint });
    const { error, log } = await failureOf(auth.read([rowsOf("select pg_sleep(3)")]));
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect((error as DatabaseUnavailableError).problem).toMatchObject({ status: 503, headers: { "Retry-After": "5" } });
    // SQLSTATE 57014 is query_canceled: the server enforced the role's timeout.
    expect(log).toContain('"sql_state":"57014"');
    expect(log).not.toContain("pg_sleep");
  });

  it("cannot override a role's statement timeout through startup parameters in the connection string", async () => {
    const url = new URL(testEnv.AUTH_DATABASE_URL);
    url.searchParams.set("options", "-c statement_timeout=0");
    const auth = createDatabase({ connectionString: url.toString(), localEndpoint });
    const [timeout] = await auth.read([setting("statement_timeout")]);
    expect(timeout).toBe("2s");
  });

  it("turns a wrong endpoint secret into the 503 problem", async () => {
    const stranger = createDatabase({
      connectionString: testEnv.DATABASE_URL,
      localEndpoint: { ...localEndpoint, secret: "x".repeat(43) },
    });
    const { error } = await failureOf(stranger.read([rowsOf("select 1")]));
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
  });
});
