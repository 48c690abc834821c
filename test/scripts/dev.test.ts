/**
 * `npm run dev` on a database the developer brings: it must say what is missing (a migration, the
 * tenant scope key) within 10 s with the command that fixes it, and, once nothing is, serve reads
 * with no secret on any process's command line, where `ps` shows it to every local user.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEMO_PASSWORD, DEMO_TENANTS } from "../../scripts/lib/demo-data.ts";
import { migrate, PROJECT_ROOT } from "../../scripts/lib/migrate.ts";
import { createDatabase, freePort, type RunningPostgres, roleUrls, startPostgres } from "../../scripts/lib/postgres.ts";
import { seed } from "../../scripts/lib/seed.ts";
import { installTenantScopeKey } from "../../scripts/lib/tenant-scope-key.ts";

const VERDICT_WITHIN_MS = 10_000;
const secret = () => randomBytes(32).toString("base64url");

interface DevRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; afterMs: number }>;
  stop: () => Promise<void>;
}

function runDev(env: Record<string, string>): DevRun {
  const started = Date.now();
  const child = spawn("npm", ["run", "dev"], {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; afterMs: number }>((resolve) =>
    child.once("exit", (code) => resolve({ code, afterMs: Date.now() - started })),
  );
  return {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode !== null) return;
      // dev.ts stops what it started on SIGTERM; npm passes it on.
      process.kill(-child.pid!, "SIGTERM");
      await exited;
    },
  };
}

async function waitForOutput(run: DevRun, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.output().includes(text)) {
    if (run.child.exitCode !== null) throw new Error(`npm run dev exited:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" after ${timeoutMs} ms:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe("npm run dev on a configured database", () => {
  let postgres: RunningPostgres;
  let metricsUrl: string;
  let authUrl: string;
  const scopeKey = secret();
  const pepper = secret();
  const runs: DevRun[] = [];
  const start = (env: Record<string, string>) => {
    const run = runDev(env);
    runs.push(run);
    return run;
  };

  beforeAll(async () => {
    postgres = await startPostgres("postgresql");
    await migrate(postgres.databaseUrl);
    await withClient(postgres.databaseUrl, async (client) => {
      await seed(client, { pepper });
      await installTenantScopeKey(client, scopeKey);
    });
    ({ metricsUrl, authUrl } = await roleUrls(postgres));
  }, 60_000);

  afterEach(async () => {
    await Promise.all(runs.splice(0).map((run) => run.stop()));
  });

  afterAll(async () => {
    await postgres?.stop();
  });

  it("stops within 10 s naming npm run db:scope-key when TENANT_SCOPE_KEY is not pinned", async () => {
    const run = start({ DATABASE_URL: metricsUrl, AUTH_DATABASE_URL: authUrl, TENANT_SCOPE_KEY: "" });
    const { code, afterMs } = await run.exited;
    expect(code).not.toBe(0);
    expect(afterMs).toBeLessThan(VERDICT_WITHIN_MS);
    expect(run.output()).toContain("npm run db:scope-key");
  });

  it("stops within 10 s naming npm run db:scope-key when the database holds another key", async () => {
    const run = start({ DATABASE_URL: metricsUrl, AUTH_DATABASE_URL: authUrl, TENANT_SCOPE_KEY: secret() });
    const { code, afterMs } = await run.exited;
    expect(code).not.toBe(0);
    expect(afterMs).toBeLessThan(VERDICT_WITHIN_MS);
    expect(run.output()).toContain("holds another tenant scope key");
    expect(run.output()).toContain("npm run db:scope-key");
  });

  it("stops within 10 s naming npm run db:migrate when the database lacks migrations", async () => {
    const bareUrl = await createDatabase(postgres.adminUrl, "not_migrated");
    const { metricsUrl: bareMetricsUrl } = await roleUrls(postgres, new URL(bareUrl).pathname.slice(1));
    const run = start({ DATABASE_URL: bareMetricsUrl, TENANT_SCOPE_KEY: scopeKey });
    const { code, afterMs } = await run.exited;
    expect(code).not.toBe(0);
    expect(afterMs).toBeLessThan(VERDICT_WITHIN_MS);
    expect(run.output()).toContain("npm run db:migrate");
  });

  it("serves tenant reads with no secret value in any process's arguments", { timeout: 120_000 }, async () => {
    const [port, dashboardPort] = [await freePort(), await freePort()];
    const secrets = {
      DATABASE_URL: metricsUrl,
      AUTH_DATABASE_URL: authUrl,
      TENANT_SCOPE_KEY: scopeKey,
      PASSWORD_PEPPER: pepper,
      JWT_SIGNING_KEY: secret(),
      ADMIN_SECRET: secret(),
    };
    const run = start({ ...secrets, DEV_PORT: String(port), DASHBOARD_PORT: String(dashboardPort) });
    await waitForOutput(run, "is ready in", 100_000);

    const api = `http://localhost:${port}`;
    const login = await fetch(`${api}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: DEMO_TENANTS[0]!.username, password: DEMO_PASSWORD }),
    });
    expect(login.status).toBe(200);
    const { access_token: token } = (await login.json()) as { access_token: string };
    const overview = await fetch(`${api}/metrics/overview`, { headers: { authorization: `Bearer ${token}` } });
    expect(overview.status).toBe(200);
    expect((await fetch(`${api}/health/ready`)).status).toBe(200);

    const commandLines = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
    // The values dev.ts made itself (the SQL endpoint's secret among them) are in wrangler's env file.
    const envFile = /--env-file (\S+)/.exec(commandLines)?.[1];
    expect(envFile).toBeDefined();
    const generated = Object.values(parseEnv(readFileSync(envFile!, "utf8"))).filter(
      (value): value is string => typeof value === "string" && value.length >= 32,
    );
    const passwords = [metricsUrl, authUrl].map((url) => decodeURIComponent(new URL(url).password));
    const values = [...Object.values(secrets), ...passwords, ...generated];
    expect(generated.length).toBeGreaterThanOrEqual(5);
    expect(values.filter((value) => commandLines.includes(value))).toEqual([]);
  });
});
