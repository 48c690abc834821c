/**
 * `npm run dev`: the API on http://localhost:8787 and the dashboard on http://localhost:5173, with
 * nothing to install or configure.
 * With no DATABASE_URL (environment or .dev.vars) it starts an embedded Postgres (PGlite), migrates
 * and seeds it; with a loopback DATABASE_URL it uses that server. Either way the worker's Neon
 * driver reaches the database through the local stand-in for Neon's SQL endpoint. A remote
 * DATABASE_URL (Neon itself) is used directly in production mode. The dashboard is built for
 * http://localhost:<DEV_PORT> (rebuilt on change) and served by `wrangler dev` of its own assets
 * site, so its CSP and headers are production's. Both are `localhost`: one site, so the API's
 * SameSite=Strict session cookie travels. Ctrl-C stops everything it started.
 *
 * No secret is ever on a command line, where `ps` shows it to every local user: the worker gets
 * them through a private env file (scripts/lib/wrangler-dev.ts), the embedded database listens on
 * a Unix socket in a private directory, and a configured database is checked (migrations, scope
 * key) before "ready", so a gap is named with the command that closes it.
 */
import { randomBytes } from "node:crypto";
import { readDevVars, setting } from "./lib/config-files.ts";
import { buildDashboard, serveDashboard } from "./lib/dashboard.ts";
import { checkConfiguredDatabase, PreflightError } from "./lib/database-preflight.ts";
import { DEMO_PASSWORD, DEMO_TENANTS } from "./lib/demo-data.ts";
import { migrate } from "./lib/migrate.ts";
import { type RunningPostgres, startPostgres } from "./lib/postgres.ts";
import { seed } from "./lib/seed.ts";
import { type SqlEndpoint, startSqlEndpoint } from "./lib/sql-endpoint.ts";
import { installTenantScopeKey } from "./lib/tenant-scope-key.ts";
import { startWranglerDev, waitForHttp } from "./lib/wrangler-dev.ts";

const port = Number(setting("DEV_PORT") ?? 8787);
const dashboardPort = Number(setting("DASHBOARD_PORT") ?? 5173);
const started = Date.now();
const cleanups: (() => Promise<void>)[] = [];
let stopping = false;

async function stopAll(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => console.error(String(error)));
  }
  process.exit(exitCode);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

function isLoopback(url: string): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
}

try {
  const configuredDatabaseUrl = setting("DATABASE_URL");
  const configuredScopeKey = setting("TENANT_SCOPE_KEY");
  if (configuredDatabaseUrl !== undefined && configuredScopeKey === undefined) {
    throw new PreflightError(
      "DATABASE_URL is set but TENANT_SCOPE_KEY is not: a random key would not match the database's. " +
        "Pin TENANT_SCOPE_KEY in .dev.vars and run `npm run db:scope-key` to install it.",
    );
  }
  // Secrets random per run unless .dev.vars pins them; the seed hashes the demo password with this
  // pepper, so worker and seed agree. Everything else in .dev.vars reaches the worker as it is.
  const pepper = setting("PASSWORD_PEPPER") ?? randomBytes(32).toString("base64url");
  const passedThrough = ["API_KEYS", "API_KEY_SIGNING_SECRETS", "ADMIN_SECRET"].flatMap((name) => {
    const value = setting(name);
    return value === undefined ? [] : [[name, value] as const];
  });
  const vars: Record<string, string> = {
    ...readDevVars(),
    ...Object.fromEntries(passedThrough),
    PASSWORD_PEPPER: pepper,
    JWT_SIGNING_KEY: setting("JWT_SIGNING_KEY") ?? randomBytes(32).toString("base64url"),
    // Installed below in the embedded database; a configured one gets it from `npm run db:scope-key`.
    TENANT_SCOPE_KEY: configuredScopeKey ?? randomBytes(32).toString("base64url"),
    ALLOWED_HOSTS: setting("ALLOWED_HOSTS") ?? `localhost:${port},127.0.0.1:${port}`,
    // The dashboard (below) can call the local API with credentials.
    ALLOWED_ORIGINS:
      setting("ALLOWED_ORIGINS") ?? `http://localhost:${dashboardPort},http://127.0.0.1:${dashboardPort}`,
  };

  let databaseUrl = configuredDatabaseUrl;
  let embedded = false;
  if (databaseUrl === undefined) {
    embedded = true;
    console.log("No DATABASE_URL configured: starting the embedded Postgres (PGlite) with demo data…");
    const postgres: RunningPostgres = await startPostgres("pglite");
    cleanups.push(() => postgres.stop());
    databaseUrl = postgres.databaseUrl;
    await migrate(databaseUrl);
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await seed(client, { pepper })
      .then(() => installTenantScopeKey(client, vars.TENANT_SCOPE_KEY!))
      .finally(() => client.end());
  } else {
    await checkConfiguredDatabase(databaseUrl, vars.TENANT_SCOPE_KEY!);
  }
  vars.DATABASE_URL = databaseUrl;
  // PGlite has one session and no logins, so locally one URL serves both roles unless .dev.vars splits them.
  vars.AUTH_DATABASE_URL = setting("AUTH_DATABASE_URL") ?? databaseUrl;

  // A loopback server is reached through the local SQL endpoint in local mode; a remote one (Neon)
  // directly, with the production TLS rule in force.
  if (isLoopback(databaseUrl)) {
    const secret = randomBytes(32).toString("base64url");
    const endpoint: SqlEndpoint = await startSqlEndpoint({
      connectionStrings: [vars.DATABASE_URL, vars.AUTH_DATABASE_URL],
      secret,
      // PGlite is one session for every connection: one transaction at a time.
      serialize: embedded,
    });
    cleanups.push(() => endpoint.close());
    vars.APP_ENV = "local";
    vars.LOCAL_SQL_ENDPOINT = endpoint.url;
    vars.LOCAL_SQL_SECRET = secret;
  }

  const worker = await startWranglerDev({ port, vars, inheritOutput: true });
  cleanups.push(() => worker.stop());
  worker.child.once("exit", (code) => {
    if (!stopping) void stopAll(code ?? 1);
  });
  await waitForHttp(`${worker.url}/health/ready`, 60_000);

  const apiOrigin = `http://localhost:${port}`;
  const dashboardBuild = await buildDashboard({ apiOrigin, watch: true });
  cleanups.push(() => dashboardBuild.close());
  const dashboard = await serveDashboard({ port: dashboardPort, inheritOutput: true });
  cleanups.push(() => dashboard.stop());
  const dashboardUrl = `http://localhost:${dashboardPort}`;

  console.log(`
StreamForge Edge is ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  Dashboard: ${dashboardUrl}
  API:       ${apiOrigin}
  Health:    ${apiOrigin}/health/ready
  API docs:  ${apiOrigin}/docs
  Demo users (password "${DEMO_PASSWORD}"): ${DEMO_TENANTS.map((tenant) => tenant.username).join(", ")}
  Tenant admins (also manage API keys): ${DEMO_TENANTS.map((tenant) => tenant.adminUsername).join(", ")}
Press Ctrl-C to stop everything.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  await stopAll(1);
}
