import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../scripts/lib/migrate.ts";
import { type RoleUrls, type RunningPostgres, roleUrls, startPostgres } from "../../scripts/lib/postgres.ts";
import { seed } from "../../scripts/lib/seed.ts";
import { installTenantScopeKey, SET_TENANT_SCOPE_SQL, tenantScopeParams } from "../../scripts/lib/tenant-scope-key.ts";

// Roles, logins and row-level security exist only on a real server: this file never falls back to PGlite.
let postgres: RunningPostgres;
let roles: RoleUrls;
const SCOPE_KEY = "roles-test-tenant-scope-key-0123456789abcdef";
const nowSeconds = () => Math.floor(Date.now() / 1000);
/** What the worker sends to open a transaction to `tenant`, valid for a minute. */
const scopeParams = (tenant: string, key = SCOPE_KEY, expiresAt = nowSeconds() + 60) =>
  tenantScopeParams(key, tenant, expiresAt);

async function as<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function failureOf(url: string, sql: string, params: unknown[] = []): Promise<string> {
  return as(url, async (client) => {
    try {
      await client.query(sql, params);
      return "succeeded";
    } catch (error) {
      return (error as Error).message;
    }
  });
}

beforeAll(async () => {
  postgres = await startPostgres("postgresql");
  await migrate(postgres.databaseUrl);
  await as(postgres.databaseUrl, async (client) => {
    await seed(client, { pepper: "roles-test-pepper-0123456789abcdef0123", buckets: 12 * 120 });
    await installTenantScopeKey(client, SCOPE_KEY);
  });
  roles = await roleUrls(postgres);
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
});

describe("read-only metrics role", () => {
  it.each([
    ["INSERT", "insert into tenants (slug, name) values ('evil', 'Evil')"],
    ["UPDATE", "update metric_buckets set events = 0"],
    ["DELETE", "delete from metric_buckets"],
    ["TRUNCATE", "truncate metric_buckets"],
    ["CREATE TABLE", "create table stolen (x int)"],
    ["DROP TABLE", "drop table metric_buckets"],
    ["ALTER TABLE", "alter table streams add column x int"],
  ])("cannot %s", async (_label, sql) => {
    expect(await failureOf(roles.metricsUrl, sql)).toMatch(/read-only transaction|permission denied|must be owner/);
  });

  it("cannot write even after switching its session to read-write", async () => {
    const message = await as(roles.metricsUrl, async (client) => {
      await client.query("set default_transaction_read_only = off");
      return client.query("delete from metric_buckets").then(
        () => "succeeded",
        (error: Error) => error.message,
      );
    });
    expect(message).toMatch(/permission denied/);
  });

  it("cannot read users or tenants", async () => {
    expect(await failureOf(roles.metricsUrl, "select password_hash from users")).toMatch(/permission denied/);
    expect(await failureOf(roles.metricsUrl, "select * from tenants")).toMatch(/permission denied/);
  });
});

describe("authentication role", () => {
  it("reads the login columns of users and the tenant slug", async () => {
    const rows = await as(roles.authUrl, async (client) => {
      const result = await client.query(
        "select u.username, t.slug from users u join tenants t on t.id = u.tenant_id where u.username = $1",
        ["acme_analyst"],
      );
      return result.rows;
    });
    expect(rows).toEqual([{ username: "acme_analyst", slug: "acme" }]);
  });

  it("reads a user's role and the tenant's key ceiling, to decide who manages keys", async () => {
    const rows = await as(roles.authUrl, async (client) => {
      const result = await client.query(
        "select u.username, u.role, t.api_key_scopes, t.api_key_rate_ceiling from users u join tenants t on t.id = u.tenant_id where u.tenant_id = (select id from tenants where slug = 'acme') order by u.username",
      );
      return result.rows;
    });
    expect(rows).toEqual([
      {
        username: "acme_admin",
        role: "tenant_admin",
        api_key_scopes: ["metrics:read", "streams:read"],
        api_key_rate_ceiling: "1000/minute",
      },
      {
        username: "acme_analyst",
        role: "analyst",
        api_key_scopes: ["metrics:read", "streams:read"],
        api_key_rate_ceiling: "1000/minute",
      },
    ]);
  });

  it("cannot read metrics, streams or other tenant columns, nor write users", async () => {
    expect(await failureOf(roles.authUrl, "select count(*) from metric_buckets")).toMatch(/permission denied/);
    expect(await failureOf(roles.authUrl, "select count(*) from streams")).toMatch(/permission denied/);
    expect(await failureOf(roles.authUrl, "select name from tenants")).toMatch(/permission denied/);
    expect(await failureOf(roles.authUrl, "update users set password_hash = 'x'")).toMatch(
      /read-only transaction|permission denied/,
    );
    expect(await failureOf(roles.authUrl, "update users set role = 'tenant_admin'")).toMatch(
      /read-only transaction|permission denied/,
    );
  });
});

describe("row-level security", () => {
  async function visibleCounts(tenant: string | undefined): Promise<{ buckets: number; streams: number }> {
    return as(roles.metricsUrl, async (client) => {
      await client.query("begin read only");
      if (tenant !== undefined) await client.query(SET_TENANT_SCOPE_SQL, scopeParams(tenant));
      // No WHERE clause on purpose: the policy alone must hold the wall.
      const buckets = await client.query<{ n: string }>("select count(*) as n from metric_buckets");
      const streams = await client.query<{ n: string }>("select count(*) as n from streams");
      await client.query("commit");
      return { buckets: Number(buckets.rows[0]!.n), streams: Number(streams.rows[0]!.n) };
    });
  }

  async function ownerCounts(tenant: string): Promise<{ buckets: number; streams: number }> {
    return as(postgres.databaseUrl, async (client) => {
      const { rows } = await client.query<{ buckets: string; streams: string }>(
        `select (select count(*) from metric_buckets b join tenants t on t.id = b.tenant_id where t.slug = $1) as buckets,
                (select count(*) from streams s join tenants t on t.id = s.tenant_id where t.slug = $1) as streams`,
        [tenant],
      );
      return { buckets: Number(rows[0]!.buckets), streams: Number(rows[0]!.streams) };
    });
  }

  it("shows tenant A only its own rows when a query forgets its WHERE clause", async () => {
    const acme = await visibleCounts("acme");
    expect(acme).toEqual(await ownerCounts("acme"));
    expect(acme.streams).toBe(6);
    const globex = await visibleCounts("globex");
    expect(globex).toEqual(await ownerCounts("globex"));
    expect(globex.buckets).not.toBe(acme.buckets);
  });

  it("shows nothing when no tenant is set, or an unknown one", async () => {
    expect(await visibleCounts(undefined)).toEqual({ buckets: 0, streams: 0 });
    expect(await visibleCounts("' OR 1=1 --")).toEqual({ buckets: 0, streams: 0 });
  });

  it("forgets the tenant at commit, so a reused connection starts with none", async () => {
    const counts = await as(roles.metricsUrl, async (client) => {
      await client.query("begin read only");
      await client.query(SET_TENANT_SCOPE_SQL, scopeParams("acme"));
      await client.query("commit");
      const { rows } = await client.query<{ n: string }>("select count(*) as n from metric_buckets");
      return Number(rows[0]!.n);
    });
    expect(counts).toBe(0);
  });
});

describe("tenant scope against the metrics role itself (a leaked DATABASE_URL or an injected statement)", () => {
  /** Rows of every tenant the session sees after `forge` ran in its read-only transaction. */
  async function bucketsSeenAfter(forge: (client: pg.Client) => Promise<unknown>): Promise<number> {
    return as(roles.metricsUrl, async (client) => {
      await client.query("begin read only");
      await forge(client);
      const { rows } = await client.query<{ n: string }>("select count(*) as n from metric_buckets");
      await client.query("rollback");
      return Number(rows[0]!.n);
    });
  }

  async function refusalOf(params: unknown[]): Promise<string> {
    return failureOf(roles.metricsUrl, SET_TENANT_SCOPE_SQL, params);
  }

  it("opens a tenant to a token made with the installed key", async () => {
    expect(
      await bucketsSeenAfter((client) => client.query(SET_TENANT_SCOPE_SQL, scopeParams("globex"))),
    ).toBeGreaterThan(0);
  });

  it("reads nothing after setting the tenant directly, the old way or with a made-up token", async () => {
    const forgedMac = "0".repeat(64);
    const forgeries = [
      (client: pg.Client) => client.query("select set_config('app.tenant', 'acme', true)"),
      (client: pg.Client) =>
        client.query("select set_config('app.tenant_scope', $1, true)", [`${nowSeconds() + 60}:${forgedMac}:acme`]),
      (client: pg.Client) =>
        client.query("select set_config('app.tenant_scope', $1, true)", [
          `${nowSeconds() + 60}:${scopeParams("acme", "an-attacker-guessed-key-0123456789abcdef")[2]}:acme`,
        ]),
    ];
    for (const forge of forgeries) expect(await bucketsSeenAfter(forge)).toBe(0);
  });

  it.each([
    ["a MAC made with another key", () => scopeParams("acme", "an-attacker-guessed-key-0123456789abcdef")],
    ["another tenant's MAC", () => ["acme", ...scopeParams("globex").slice(1)]],
    ["an expired token", () => scopeParams("acme", SCOPE_KEY, nowSeconds() - 1)],
    ["a token that claims to live for a day", () => scopeParams("acme", SCOPE_KEY, nowSeconds() + 86_400)],
    ["an empty MAC", () => ["acme", nowSeconds() + 60, ""]],
  ])("refuses %s with an error", async (_label, params) => {
    expect(await refusalOf(params())).toBe("tenant scope refused");
  });

  it("accepts a genuine token naming SQL instead of a tenant, and it opens nothing", async () => {
    expect(await bucketsSeenAfter((client) => client.query(SET_TENANT_SCOPE_SQL, scopeParams("' OR 1=1 --")))).toBe(0);
  });

  it("cannot replay a token captured from another transaction once it has expired", async () => {
    const captured = scopeParams("acme", SCOPE_KEY, nowSeconds() + 1);
    const stored = `${captured[1]}:${captured[2]}:acme`;
    expect(
      await bucketsSeenAfter((client) => client.query("select set_config('app.tenant_scope', $1, true)", [stored])),
    ).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect(
      await bucketsSeenAfter((client) => client.query("select set_config('app.tenant_scope', $1, true)", [stored])),
    ).toBe(0);
    expect(await refusalOf(captured)).toBe("tenant scope refused");
  });

  it("cannot read the key, call the verifier, or replace the key", async () => {
    expect(await failureOf(roles.metricsUrl, "select key from tenant_scope_key")).toMatch(/permission denied/);
    expect(await failureOf(roles.metricsUrl, "select app_tenant_scope_valid('acme', 0, '')")).toMatch(
      /permission denied/,
    );
    const replaced = await as(roles.metricsUrl, async (client) => {
      await client.query("set default_transaction_read_only = off");
      return client
        .query("update tenant_scope_key set key = convert_to($1, 'UTF8')", ["an-attacker-chosen-key-0123456789abcdef"])
        .then(
          () => "succeeded",
          (error: Error) => error.message,
        );
    });
    expect(replaced).toMatch(/permission denied/);
    expect(await failureOf(roles.authUrl, "select key from tenant_scope_key")).toMatch(/permission denied/);
  });
});

describe("overview query plan", () => {
  it("finds the window through the (tenant, time) index, never by scanning the table", async () => {
    const plan = await as(roles.metricsUrl, async (client) => {
      await client.query("begin read only");
      await client.query(SET_TENANT_SCOPE_SQL, scopeParams("acme"));
      const { rows } = await client.query<{ "QUERY PLAN": string }>(
        `explain select sum(events), sum(bytes), sum(errors), count(distinct stream_id),
                percentile_cont(0.95) within group (order by latency_p95_ms)
           from metric_buckets
          where tenant_id = (select app_current_tenant_id()) and bucket_start >= now() - interval '1 hour' and bucket_start < now()`,
      );
      await client.query("commit");
      return rows.map((row) => row["QUERY PLAN"]).join("\n");
    });
    // Index-only or bitmap, as statistics decide: either way the window bounds the rows read.
    expect(plan).toMatch(/(Index Only Scan|Bitmap Index Scan) (using|on) metric_buckets_tenant_window_idx/);
    expect(plan).toMatch(/Index Cond: \(\(tenant_id = \$\d\) AND \(bucket_start >= /);
    expect(plan).not.toMatch(/Seq Scan on metric_buckets/);
  });
});
