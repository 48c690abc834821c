import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../scripts/lib/migrate.ts";
import { roleUrls, startPostgres, type RoleUrls, type RunningPostgres } from "../../scripts/lib/postgres.ts";
import { seed } from "../../scripts/lib/seed.ts";

// Roles, logins and row-level security exist only on a real server: this file never falls back to PGlite.
let postgres: RunningPostgres;
let roles: RoleUrls;

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
  await as(postgres.databaseUrl, (client) => seed(client, { pepper: "roles-test-pepper-0123456789abcdef0123", buckets: 12 * 120 }));
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

  it("cannot read metrics, streams or other tenant columns, nor write users", async () => {
    expect(await failureOf(roles.authUrl, "select count(*) from metric_buckets")).toMatch(/permission denied/);
    expect(await failureOf(roles.authUrl, "select count(*) from streams")).toMatch(/permission denied/);
    expect(await failureOf(roles.authUrl, "select name from tenants")).toMatch(/permission denied/);
    expect(await failureOf(roles.authUrl, "update users set password_hash = 'x'")).toMatch(/read-only transaction|permission denied/);
  });
});

describe("row-level security", () => {
  async function visibleCounts(tenant: string | undefined): Promise<{ buckets: number; streams: number }> {
    return as(roles.metricsUrl, async (client) => {
      await client.query("begin read only");
      if (tenant !== undefined) await client.query("select set_config('app.tenant', $1, true)", [tenant]);
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
      await client.query("select set_config('app.tenant', 'acme', true)");
      await client.query("commit");
      const { rows } = await client.query<{ n: string }>("select count(*) as n from metric_buckets");
      return Number(rows[0]!.n);
    });
    expect(counts).toBe(0);
  });
});

describe("overview query plan", () => {
  it("finds the window through the (tenant, time) index, never by scanning the table", async () => {
    const plan = await as(roles.metricsUrl, async (client) => {
      await client.query("begin read only");
      await client.query("select set_config('app.tenant', 'acme', true)");
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
