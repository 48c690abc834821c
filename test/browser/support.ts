/**
 * Real-browser harness: the worker built as `wrangler deploy` uploads it, run in wrangler's
 * in-process test harness (./harness.ts) on a real Postgres, static pages on their own loopback
 * origins, and Debian's Chromium driven by playwright-core. The harness rather than `wrangler dev`,
 * which `npm run dev` uses and test/scripts tests: a `wrangler dev` per file cost a Node process and
 * a bundling each. Each starter returns something with a stop or close; a start that fails stops
 * what it had already started, so a broken run leaves no process behind.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { BrowserContext, Page } from "playwright-core";
import { inject } from "vitest";

export { CHROMIUM_PATH, type Chromium, launchChromium } from "../../scripts/lib/chromium.ts";

import { startPostgres } from "../../scripts/lib/postgres.ts";
import { startSqlEndpoint } from "../../scripts/lib/sql-endpoint.ts";
import { waitForHttp } from "../../scripts/lib/wrangler-dev.ts";
import { TEST_PEPPER, TEST_TENANT_SCOPE_KEY } from "../support/constants.ts";
import { seedDatabase } from "./global-setup.ts";
import { startApiWorker } from "./harness.ts";

/** Test-only; the browser suite never checks a token, the worker just refuses to start without a key. */
const BROWSER_TEST_JWT_SIGNING_KEY = "browser-test-jwt-signing-key-0123456789abcdef";

/** Runs cleanups newest first, each even when an earlier one fails; rethrows the failures together. */
export async function stopAll(cleanups: (() => Promise<void>)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => failures.push(error));
  }
  if (failures.length > 0) throw new AggregateError(failures, "cleanup failed");
}

export interface StaticPage {
  /** Serialized origin the page is served from, e.g. `http://127.0.0.1:41234`. */
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves one HTML document at `/` (404 elsewhere) on a free loopback port: a page with its own
 * origin. `hostName` `localhost` names it as the dashboard's dev origin does, the same site as a
 * worker at `localhost` on another port (ports do not count for sites, they do for origins).
 */
export async function startStaticPage(
  html: string,
  hostName: "127.0.0.1" | "localhost" = "127.0.0.1",
): Promise<StaticPage> {
  const server = http.createServer((request, response) => {
    if (request.url !== "/") return void response.writeHead(404).end();
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }).end(html);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${hostName}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface LocalWorker {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /**
   * Answers for 127.0.0.1 and localhost on its port and allows exactly `allowedOrigins`; `vars` add
   * to or override the worker's variables (tighter limits, shorter sessions). Ready when it returns.
   */
  configure(options: { allowedOrigins: readonly string[]; vars?: Record<string, string> }): Promise<void>;
  /** Closes the local SQL endpoint: from then on every database call of the worker fails, as when its database is unreachable. */
  cutDatabase(): Promise<void>;
  stop(): Promise<void>;
}

/** The project's shared server (test/browser/global-setup.ts), or with PGlite one of this file's own. */
async function browserDatabase(): Promise<{
  databaseUrl: string;
  kind: "postgresql" | "pglite";
  stop(): Promise<void>;
}> {
  const shared = inject("browserDatabaseUrl");
  if (shared !== "") return { databaseUrl: shared, kind: "postgresql", stop: async () => undefined };
  const postgres = await startPostgres("pglite");
  try {
    await seedDatabase(postgres.databaseUrl);
  } catch (error) {
    await postgres.stop();
    throw error;
  }
  return postgres;
}

/**
 * The worker in local mode on a loopback port, reaching a migrated and seeded Postgres through the
 * local SQL endpoint. It keeps wrangler.jsonc's hosts and origins until `configure`: those name its
 * port, which the harness picks, and a test may need the port first (for a page or a build).
 */
export async function startLocalWorker(): Promise<LocalWorker> {
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const postgres = await browserDatabase();
    cleanups.push(() => postgres.stop());

    const sqlSecret = randomBytes(32).toString("base64url");
    const sqlEndpoint = await startSqlEndpoint({
      connectionStrings: [postgres.databaseUrl],
      secret: sqlSecret,
      serialize: postgres.kind === "pglite",
    });
    // Once only, whether a test cut the database or the cleanup does.
    let closed: Promise<void> | undefined;
    const cutDatabase = () => (closed ??= sqlEndpoint.close());
    cleanups.push(cutDatabase);

    const worker = await startApiWorker({
      prebuiltWorkerDir: inject("browserWorkerDir"),
      vars: { APP_ENV: "local", LOCAL_SQL_ENDPOINT: sqlEndpoint.url },
      secrets: {
        LOCAL_SQL_SECRET: sqlSecret,
        DATABASE_URL: postgres.databaseUrl,
        // One database plays both roles here; the auth secrets only have to satisfy the env schema.
        AUTH_DATABASE_URL: postgres.databaseUrl,
        PASSWORD_PEPPER: TEST_PEPPER,
        JWT_SIGNING_KEY: BROWSER_TEST_JWT_SIGNING_KEY,
        TENANT_SCOPE_KEY: TEST_TENANT_SCOPE_KEY,
      },
    });
    cleanups.push(() => worker.close());
    const url = `http://127.0.0.1:${worker.port}`;
    return {
      url,
      port: worker.port,
      configure: async ({ allowedOrigins, vars }) => {
        await worker.setVars({
          ALLOWED_HOSTS: `127.0.0.1:${worker.port},localhost:${worker.port}`,
          ALLOWED_ORIGINS: allowedOrigins.join(","),
          ...vars,
        });
        await waitForHttp(`${url}/health/ready`, 60_000).catch((error: unknown) => {
          throw new Error(
            `${error instanceof Error ? error.message : String(error)}\nworker output:\n${worker.logs()}`,
          );
        });
      },
      cutDatabase,
      stop: () => stopAll(cleanups),
    };
  } catch (error) {
    await stopAll(cleanups);
    throw error;
  }
}

/** One request Chromium made, as the DevTools protocol reports it; header names in lower case. */
export interface SeenRequest {
  method: string;
  url: string;
  /** `preflight` for a CORS preflight Chromium sent on its own, `script` for the page's fetch. */
  initiator: string;
  requestHeaders: Record<string, string>;
  status?: number;
  responseHeaders?: Record<string, string>;
  /** Chromium's `Network.CorsError` when it withheld the response from the page. */
  corsError?: string;
  /** Set when loading ended, either way; the events can trail what the page's script saw. */
  finished: boolean;
}

function lowerCaseKeys(headers: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), String(value)]));
}

/**
 * Records every request of `page` through a DevTools session. Playwright's own request events leave
 * out CORS preflights, and the preflight is what this harness has to see. Status and headers come
 * from the `ExtraInfo` events, the bytes on the wire: a response Chromium withholds from the page
 * gets no `responseReceived`, and those events may arrive before `requestWillBeSent`.
 */
export async function recordRequests(context: BrowserContext, page: Page): Promise<SeenRequest[]> {
  const session = await context.newCDPSession(page);
  const seen: SeenRequest[] = [];
  const byId = new Map<string, SeenRequest>();
  const entry = (requestId: string): SeenRequest => {
    let request = byId.get(requestId);
    if (request === undefined) {
      request = { method: "", url: "", initiator: "", requestHeaders: {}, finished: false };
      byId.set(requestId, request);
      seen.push(request);
    }
    return request;
  };
  session.on("Network.requestWillBeSent", (event) => {
    Object.assign(entry(event.requestId), {
      method: event.request.method,
      url: event.request.url,
      initiator: event.initiator.type,
    });
  });
  session.on("Network.requestWillBeSentExtraInfo", (event) => {
    entry(event.requestId).requestHeaders = lowerCaseKeys(event.headers);
  });
  session.on("Network.responseReceivedExtraInfo", (event) => {
    Object.assign(entry(event.requestId), { status: event.statusCode, responseHeaders: lowerCaseKeys(event.headers) });
  });
  session.on("Network.loadingFinished", (event) => {
    entry(event.requestId).finished = true;
  });
  session.on("Network.loadingFailed", (event) => {
    Object.assign(entry(event.requestId), { corsError: event.corsErrorStatus?.corsError, finished: true });
  });
  await session.send("Network.enable");
  return seen;
}

export type ProbeResult = { ok: true; status: number; body: unknown } | { ok: false; error: string };

export interface ProbeResults {
  login: ProbeResult;
  health: ProbeResult;
}

/**
 * A page that, on load, makes two credentialed cross-origin calls to the worker — a JSON POST to
 * /auth/login (Content-Type: application/json makes it preflighted) and a GET of /health — and
 * leaves what its script could read in `window.results`.
 */
export function corsProbePage(workerUrl: string): string {
  return `<!doctype html>
<meta charset="utf-8">
<title>CORS probe</title>
<script type="module">
const workerUrl = ${JSON.stringify(workerUrl)};
async function probe(url, init) {
  try {
    const response = await fetch(url, { credentials: "include", ...init });
    return { ok: true, status: response.status, body: await response.json() };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}
const login = await probe(workerUrl + "/auth/login", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ username: "acme_analyst", password: "wrong-password-1" }),
});
const health = await probe(workerUrl + "/health");
window.results = { login, health };
</script>
`;
}
