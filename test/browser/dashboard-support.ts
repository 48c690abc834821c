/**
 * The dashboard under test as it is deployed: built for this run's API origin, served as
 * dashboard/wrangler.jsonc configures it (so its `_headers` apply), calling the API worker
 * cross-origin, both in wrangler's test harness (./harness.ts). Both are `localhost`, one site, as
 * in `npm run dev`. Pages are watched for console errors, uncaught exceptions and CSP violations;
 * axe-core comes from node_modules.
 */
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { Chromium } from "../../scripts/lib/chromium.ts";
import { buildDashboard, DASHBOARD_CONFIG } from "../../scripts/lib/dashboard.ts";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { PROJECT_ROOT } from "../../scripts/lib/migrate.ts";
import { waitForHttp } from "../../scripts/lib/wrangler-dev.ts";
import { type HarnessWorker, startHarness } from "./harness.ts";
import { startLocalWorker, stopAll } from "./support.ts";

/** Git-ignored; the run writes its screenshots here for a reviewer. */
export const SCREENSHOT_DIR = path.join(PROJECT_ROOT, "test-results", "dashboard");

export interface DashboardStack {
  /** `http://localhost:<port>`: the API origin the dashboard was built for. */
  apiOrigin: string;
  /** `http://localhost:<port>`, the one origin the API allows. */
  dashboardOrigin: string;
  /** The same build on another port, which the API's allowlist does not contain. */
  refusedOrigin?: string;
  /** The build directory. */
  outDir: string;
  /** The API's database becomes unreachable for the rest of the run. */
  cutDatabase(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDashboardStack(
  options: { vars?: Record<string, string>; refusedSite?: boolean } = {},
): Promise<DashboardStack> {
  const cleanups: (() => Promise<void>)[] = [];
  try {
    // The API first: the build bakes in its origin, and its allowlist names the site's.
    const worker = await startLocalWorker();
    cleanups.push(() => worker.stop());
    const apiOrigin = `http://localhost:${worker.port}`;
    const outDir = await mkdtemp(path.join(tmpdir(), "streamforge-dashboard-"));
    cleanups.push(() => rm(outDir, { recursive: true, force: true }));
    await buildDashboard({ apiOrigin, outDir });
    const site = await serveDashboardBuild(outDir);
    cleanups.push(() => site.close());
    const dashboardOrigin = `http://localhost:${site.port}`;
    let refusedOrigin: string | undefined;
    if (options.refusedSite === true) {
      const refused = await serveDashboardBuild(outDir);
      cleanups.push(() => refused.close());
      refusedOrigin = `http://localhost:${refused.port}`;
    }
    await worker.configure({
      allowedOrigins: [dashboardOrigin],
      ...(options.vars === undefined ? {} : { vars: options.vars }),
    });
    return {
      apiOrigin,
      dashboardOrigin,
      ...(refusedOrigin === undefined ? {} : { refusedOrigin }),
      outDir,
      cutDatabase: () => worker.cutDatabase(),
      stop: () => stopAll(cleanups),
    };
  } catch (error) {
    await stopAll(cleanups);
    throw error;
  }
}

/**
 * dashboard/wrangler.jsonc (its `_headers`, its single-page-application not-found handling) over
 * the build in `assetsDirectory`, ready when its page answers. The harness serves a configuration
 * file's own assets directory, so the file's settings are passed inline, with this directory.
 */
async function serveDashboardBuild(assetsDirectory: string): Promise<HarnessWorker> {
  const { experimental_readRawConfig } = await import("wrangler");
  const { rawConfig } = experimental_readRawConfig({ config: DASHBOARD_CONFIG });
  const site = await startHarness({
    root: path.dirname(DASHBOARD_CONFIG),
    workers: [{ config: { ...rawConfig, assets: { ...rawConfig.assets, directory: assetsDirectory } } }],
  });
  try {
    await waitForHttp(`http://127.0.0.1:${site.port}/`, 60_000);
    return site;
  } catch (error) {
    await site.close();
    throw error;
  }
}

export interface PageWatch {
  /** Console errors and uncaught exceptions, minus the network log lines listed in `expectStatus`. */
  errors(): string[];
  /** CSP violations the document reported (`securitypolicyviolation`), since the last navigation. */
  cspViolations(): Promise<string[]>;
  /**
   * Chromium logs every 4xx/5xx response of a fetch as a console error ("Failed to load resource:
   * the server responded with a status of 401"), even when the page handles it. A test that
   * provokes such a status on purpose names it here, for the API's origin only.
   */
  expectStatus(...statuses: number[]): void;
}

const NETWORK_LOG = /^Failed to load resource: the server responded with a status of (\d{3})\b/;

export async function watchPage(page: Page, apiOrigin: string): Promise<PageWatch> {
  const expected = new Set<number>();
  const seen: { text: string; url: string }[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") seen.push({ text: message.text(), url: message.location().url });
  });
  page.on("pageerror", (error) => seen.push({ text: `uncaught: ${error.message}`, url: "" }));
  // Page-side code as text: this file is type-checked for Node, without the DOM library.
  await page.addInitScript({
    content: `globalThis.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  globalThis.cspViolations.push(event.effectiveDirective + " blocked " + (event.blockedURI || "inline") + " at " + event.sourceFile + ":" + event.lineNumber);
});`,
  });
  return {
    errors: () =>
      seen
        .filter(({ text, url }) => {
          const status = NETWORK_LOG.exec(text)?.[1];
          return !(status !== undefined && expected.has(Number(status)) && url.startsWith(`${apiOrigin}/`));
        })
        .map(({ text, url }) => `${text} (${url})`),
    cspViolations: () => page.evaluate<string[]>("globalThis.cspViolations ?? []"),
    expectStatus: (...statuses) => {
      for (const status of statuses) expected.add(status);
    },
  };
}

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

/**
 * axe-core's serious and critical violations on the page as it is now. The page's CSP forbids
 * inline scripts, which is what `addScriptTag` inserts, so the source from node_modules is
 * evaluated through DevTools instead (which CSP does not govern, and which reports no violation).
 */
export async function seriousAxeViolations(page: Page): Promise<AxeFinding[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate<AxeFinding[]>(`axe.run(document, { resultTypes: ["violations"] }).then((results) =>
    results.violations
      .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
      .map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(" ")) })))`);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** A fresh page at 1280×800 with no cookies, watched, at the dashboard's `/` plus `hash`. */
export async function openDashboard(
  browser: Chromium,
  stack: DashboardStack,
  hash = "",
): Promise<{ page: Page; watch: PageWatch }> {
  await browser.context.clearCookies();
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  const watch = await watchPage(page, stack.apiOrigin);
  // Every fresh page asks GET /auth/session first; without a cookie that is the API's 401.
  watch.expectStatus(401);
  await page.goto(`${stack.dashboardOrigin}/${hash}`);
  return { page, watch };
}

/** After a test: no CSP violation and no unexpected console error on the page; then closes it. */
export async function expectCleanAndClose(page: Page | undefined, watch: PageWatch | undefined): Promise<void> {
  if (page === undefined || watch === undefined || page.isClosed()) return;
  try {
    expect(await watch.cspViolations(), "CSP violations").toEqual([]);
    expect(watch.errors(), "console errors").toEqual([]);
  } finally {
    await page.close();
  }
}

/** Fills and submits the sign-in form. */
export async function signInThroughForm(page: Page, username: string, password = DEMO_PASSWORD): Promise<void> {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** A bearer token for `username` from the API itself (POST /auth/login), for the tests' own reads. */
export async function bearerToken(apiOrigin: string, username: string): Promise<string> {
  const response = await fetch(`${apiOrigin}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: DEMO_PASSWORD }),
  });
  if (response.status !== 200) throw new Error(`login as ${username}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

export async function apiGet<T>(apiOrigin: string, pathAndQuery: string, token: string): Promise<T> {
  const response = await fetch(`${apiOrigin}${pathAndQuery}`, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status !== 200) throw new Error(`GET ${pathAndQuery}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}
