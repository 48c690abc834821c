/**
 * The dashboard in Chromium against the worker, both under `wrangler dev` on localhost (one site,
 * so the API's SameSite=Strict session cookie travels): sign-in and its failures, the overview
 * and time series against the API's own answers, tenant isolation, session restore, sign-out and
 * expiry, the refused origin, and on every page 0 console errors, 0 CSP violations and 0 serious
 * or critical axe-core findings.
 */
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GZIP_BUDGET_BYTES, gzippedSize } from "../../dashboard/build-config.ts";
import { DEMO_PASSWORD, DEMO_TENANTS } from "../../scripts/lib/demo-data.ts";
import {
  apiGet,
  bearerToken,
  type DashboardStack,
  expectCleanAndClose,
  openDashboard,
  type PageWatch,
  screenshot,
  seriousAxeViolations,
  signInThroughForm,
  startDashboardStack,
  watchPage,
} from "./dashboard-support.ts";
import { type Chromium, launchChromium, recordRequests, stopAll } from "./support.ts";

const [ACME, GLOBEX] = [DEMO_TENANTS[0], DEMO_TENANTS[1]];
const WINDOWS = ["15m", "1h", "24h", "7d"] as const;
const METRICS = ["events", "events_per_second", "bytes", "error_rate", "latency_p95_ms", "active_streams"] as const;
const SESSION_COOKIE = "__Host-sf-session";

interface Overview {
  from: string;
  to: string;
  tenant: string;
  top_streams: { stream: string; events: number; error_rate: number }[];
  [metric: string]: unknown;
}

describe("dashboard in Chromium", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let browser: Chromium;
  let stack: DashboardStack;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    browser = await launchChromium({ timezoneId: "Europe/Berlin" });
    cleanups.push(() => browser.close());
    // Each test signs in, and every sign-in counts against the per-client login limits (5 a
    // minute by default, successes too); dashboard-limits.test.ts tests those limits.
    stack = await startDashboardStack({
      refusedSite: true,
      vars: { RATE_LIMIT_LOGIN_IP: "100/minute", RATE_LIMIT_LOGIN_IPV4_24: "100/minute" },
    });
    cleanups.push(() => stack.stop());
  });

  afterAll(() => stopAll(cleanups));

  async function openFresh(): Promise<void> {
    ({ page, watch } = await openDashboard(browser, stack));
  }

  afterEach(() => expectCleanAndClose(page, watch));

  async function signIn(username: string): Promise<void> {
    await openFresh();
    await signInThroughForm(page, username);
    await page.locator('[data-state="ready"][data-window]').waitFor();
  }

  /** The overview as the page shows it: raw values from `data-value`, and the window it covers. */
  async function shownOverview() {
    const content = page.locator('[data-state="ready"][data-window]');
    const metrics: Record<string, unknown> = {};
    for (const metric of METRICS) {
      const raw = await content.locator(`[data-metric="${metric}"]`).getAttribute("data-value");
      metrics[metric] = raw === "null" ? null : Number(raw);
    }
    const rows = content.locator("tbody tr");
    const top = [];
    for (let index = 0; index < (await rows.count()); index++) {
      const cells = rows.nth(index).locator("td");
      top.push({
        stream: await rows.nth(index).getAttribute("data-stream"),
        events: Number(await cells.nth(0).getAttribute("data-value")),
        error_rate: Number(await cells.nth(1).getAttribute("data-value")),
      });
    }
    return {
      from: await content.getAttribute("data-from"),
      tenant: await content.getAttribute("data-tenant"),
      metrics,
      top,
    };
  }

  it("serves a build within the 100 KB gzip budget with the API's security headers and a CSP that allows only itself and the API", async () => {
    expect(await gzippedSize(stack.outDir)).toBeLessThanOrEqual(GZIP_BUDGET_BYTES);
    const [site, api] = await Promise.all([fetch(`${stack.dashboardOrigin}/`), fetch(`${stack.apiOrigin}/health`)]);
    expect(site.status).toBe(200);
    for (const name of [
      "x-content-type-options",
      "x-frame-options",
      "x-xss-protection",
      "referrer-policy",
      "cross-origin-opener-policy",
      "cross-origin-resource-policy",
      "permissions-policy",
    ]) {
      expect(site.headers.get(name), name).toBe(api.headers.get(name));
      expect(site.headers.get(name), name).not.toBeNull();
    }
    expect(site.headers.get("cache-control")).toBe("no-store");
    const csp = new Map(
      site.headers
        .get("content-security-policy")!
        .split(";")
        .map((directive) => directive.trim().split(/\s+/))
        .map(([name, ...values]) => [name!, values]),
    );
    expect(Object.fromEntries(csp)).toEqual({
      "default-src": ["'none'"],
      "script-src": ["'self'"],
      "style-src": ["'self'"],
      "img-src": ["'self'"],
      "connect-src": [stack.apiOrigin],
      "frame-ancestors": ["'none'"],
      "base-uri": ["'none'"],
      "form-action": ["'none'"],
    });
    // The page references only its own hashed files: nothing from another origin.
    const html = await site.text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i);
  });

  it("sign-in: the API's field messages for an empty form, one message for a wrong password, no serious axe findings", async () => {
    await openFresh();
    await page.getByRole("heading", { name: "Sign in to StreamForge" }).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);

    watch.expectStatus(400);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.locator("#username-error").textContent()).not.toBe("");
    expect(await page.getByLabel("Username").getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator("#password-error").textContent()).not.toBe("");

    // A user no other test here signs in as: a wrong password spaces that username's next check
    // without a device cookie by the username lane's interval (docs/rate-limiting.md).
    await signInThroughForm(page, GLOBEX.adminUsername, "not-the-password");
    await expect.poll(() => page.locator("#form-error").textContent()).toBe("Wrong username or password.");
    expect(await page.locator("#form-error").getAttribute("data-state")).toBe("wrong-credentials");
    await screenshot(page, "sign-in-wrong-password");
  });

  it("overview: every window shows the numbers the API gives the same tenant for that window", async () => {
    await signIn(ACME.username);
    expect(await page.locator("[data-principal]").getAttribute("data-tenant")).toBe(ACME.slug);
    const token = await bearerToken(stack.apiOrigin, ACME.username);
    for (const window of WINDOWS) {
      await page.locator(`a[href="#/overview?window=${window}"]`).click();
      await page.locator(`[data-state="ready"][data-window="${window}"]`).waitFor();
      // The window ends with the current minute; if the minute turned between the two reads, read again.
      await expect
        .poll(async () => {
          const shown = await shownOverview();
          const api = await apiGet<Overview>(stack.apiOrigin, `/metrics/overview?window=${window}`, token);
          if (api.from !== shown.from) {
            await page.reload();
            await page.locator(`[data-state="ready"][data-window="${window}"]`).waitFor();
            return "minute turned";
          }
          expect(shown.tenant).toBe(ACME.slug);
          expect(shown.metrics).toEqual(Object.fromEntries(METRICS.map((metric) => [metric, api[metric]])));
          expect(shown.top).toEqual(api.top_streams);
          return "equal";
        })
        .toBe("equal");
    }
    expect((await shownOverview()).top.length).toBe(5);
    await page.locator('a[href="#/overview?window=1h"]').click();
    await page.locator('[data-state="ready"][data-window="1h"]').waitFor();
    expect(await page.locator(".refresh-status").textContent()).toMatch(/Next refresh in \d+ s/);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, "overview");
  });

  it("works from the keyboard alone, with a visible focus ring", async () => {
    await openFresh();
    await page.getByLabel("Username").waitFor();
    expect(await page.evaluate("document.activeElement.id")).toBe("username");
    await page.keyboard.type(ACME.username);
    await page.keyboard.press("Tab");
    await page.keyboard.type(DEMO_PASSWORD);
    await page.keyboard.press("Enter");
    await page.locator('[data-state="ready"][data-window]').waitFor();
    const focusedHref = () => page.evaluate<string | null>("document.activeElement?.getAttribute('href') ?? null");
    for (let presses = 0; presses < 12 && (await focusedHref()) !== "#/overview?window=24h"; presses++)
      await page.keyboard.press("Tab");
    expect(await focusedHref()).toBe("#/overview?window=24h");
    expect(
      await page.evaluate(
        "(({ outlineStyle, outlineWidth }) => outlineStyle + ' ' + outlineWidth)(getComputedStyle(document.activeElement))",
      ),
    ).toBe("solid 3px");
    await page.keyboard.press("Enter");
    await page.locator('[data-state="ready"][data-window="24h"]').waitFor();
  });

  it("keeps the session across a reload through the HttpOnly cookie alone: nothing readable by page script", async () => {
    await signIn(ACME.username);
    const cookie = (await browser.context.cookies(stack.apiOrigin)).find(
      (candidate) => candidate.name === SESSION_COOKIE,
    );
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
    await page.reload();
    await page.locator('[data-state="ready"][data-window]').waitFor();
    expect(await page.getByRole("heading", { name: "Sign in to StreamForge" }).count()).toBe(0);
    expect(await page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]")).toEqual(["", 0, 0]);
  });

  it("time series: every step the API accepts is offered, and each chart holds as many points as the API returned", async () => {
    await signIn(ACME.username);
    await page.getByRole("link", { name: "Time series" }).click();
    await page.getByLabel("Stream", { exact: true }).waitFor();
    // Every step of the API's own schema, as the served OpenAPI document states it.
    const document = (await (await fetch(`${stack.apiOrigin}/openapi.json`)).json()) as {
      paths: Record<string, { get: { parameters: { name: string; schema: { enum?: string[] } }[] } }>;
    };
    const apiSteps = document.paths["/metrics/timeseries"]!.get.parameters.find(
      (parameter) => parameter.name === "step",
    )!.schema.enum;
    expect(apiSteps?.length).toBeGreaterThan(0);
    expect(
      await page
        .getByLabel("Step", { exact: true })
        .locator("option")
        .evaluateAll((options) => options.map((option) => (option as unknown as { value: string }).value)),
    ).toEqual(apiSteps);
    await page.goto(`${stack.dashboardOrigin}/#/timeseries?stream=orders.created&range=1h&step=1m`);
    await page.locator('.summary[data-state="ready"][data-stream="orders.created"][data-step="1m"]').waitFor();
    const summary = page.locator(".summary");
    const query = new URLSearchParams({
      stream: "orders.created",
      from: (await summary.getAttribute("data-from"))!,
      to: (await summary.getAttribute("data-to"))!,
      step: "1m",
    });
    const api = await apiGet<{ points: unknown[] }>(
      stack.apiOrigin,
      `/metrics/timeseries?${query}`,
      await bearerToken(stack.apiOrigin, ACME.username),
    );
    expect(api.points.length).toBeGreaterThan(50);
    const charts = page.locator("figure.chart");
    expect(await charts.count()).toBe(3);
    expect(
      await charts.evaluateAll((figures) =>
        figures.map((figure) => Number((figure as unknown as { dataset: Record<string, string> }).dataset.points)),
      ),
    ).toEqual([api.points.length, api.points.length, api.points.length]);
    // uPlot draws its axis labels on the canvas; the same units and time zone are in the captions
    // and the summary (this browser runs in Europe/Berlin).
    expect(await page.locator("figure.chart figcaption").allTextContents()).toEqual([
      "Events and errors (per 1m step)",
      "Latency (ms)",
      "Consumer lag (messages)",
    ]);
    expect(await summary.textContent()).toMatch(/times in Europe\/Berlin \(UTC\+0[12]:00\)\.$/);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, "timeseries");

    // The pickers drive the URL and the query.
    await page.getByLabel("Step", { exact: true }).selectOption("5m");
    await page.locator('.summary[data-state="ready"][data-stream="orders.created"][data-step="5m"]').waitFor();
    await expect.poll(() => page.url()).toContain("stream=orders.created&range=1h&step=5m");
    await page.getByLabel("Range", { exact: true }).selectOption("31d");
    await page.locator('.summary[data-state="ready"][data-step="6h"]').waitFor();
    expect(await page.getByLabel("Step", { exact: true }).locator("option:disabled").allTextContents()).toEqual([
      "1m (too many points)",
      "5m (too many points)",
      "15m (too many points)",
    ]);
  });

  it("a second tenant's user sees only its own streams", async () => {
    await signIn(GLOBEX.username);
    expect(await page.locator("[data-principal]").getAttribute("data-tenant")).toBe(GLOBEX.slug);
    const top = (await shownOverview()).top.map((row) => row.stream);
    expect(top.length).toBeGreaterThan(0);
    for (const stream of top) expect(GLOBEX.streams).toContain(stream);
    await page.getByRole("link", { name: "Time series" }).click();
    await page.getByLabel("Stream", { exact: true }).waitFor();
    const offered = await page.getByLabel("Stream", { exact: true }).locator("option").allTextContents();
    expect(offered.sort()).toEqual([...GLOBEX.streams].sort());
    // Asking for another tenant's stream by URL falls back to one of its own.
    await page.goto(`${stack.dashboardOrigin}/#/timeseries?stream=orders.created&range=1h&step=1m`);
    await page.locator('.summary[data-state="ready"]').waitFor();
    expect(GLOBEX.streams).toContain(await page.getByLabel("Stream", { exact: true }).inputValue());
  });

  it("sign-out ends the session on the server: the old cookie replayed gets 401", async () => {
    await signIn(ACME.username);
    const cookie = (await browser.context.cookies(stack.apiOrigin)).find(
      (candidate) => candidate.name === SESSION_COOKIE,
    )!;
    const replay = () =>
      fetch(`${stack.apiOrigin}/auth/session`, { headers: { Cookie: `${cookie.name}=${cookie.value}` } });
    expect((await replay()).status).toBe(200);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("[data-notice]").filter({ hasText: "You are signed out." }).waitFor();
    expect((await replay()).status).toBe(401);
    expect(
      (await browser.context.cookies(stack.apiOrigin)).some((candidate) => candidate.name === SESSION_COOKIE),
    ).toBe(false);
  });

  it("renews the session before it expires, in two tabs at once: one rotates it, the other picks the new one up, both keep reading", async () => {
    // Its own browser: Playwright's fake clock applies to a whole context, and the others run on real time.
    const own = await launchChromium();
    try {
      await own.context.clock.install();
      const tabs: { page: Page; watch: PageWatch }[] = [];
      for (let tab = 0; tab < 2; tab++) {
        const tabPage = await own.context.newPage();
        const tabWatch = await watchPage(tabPage, stack.apiOrigin);
        // 401: the first tab's fresh load, and the refresh of the tab that loses the race to renew.
        // 403: a read that went out with the new cookie but this tab's old CSRF token, before it
        // took the new one from GET /auth/session; the read is then sent again.
        tabWatch.expectStatus(401, 403);
        await tabPage.goto(`${stack.dashboardOrigin}/`);
        if (tab === 0) await signInThroughForm(tabPage, ACME.username);
        await tabPage.locator('[data-state="ready"][data-window]').waitFor();
        tabs.push({ page: tabPage, watch: tabWatch });
      }
      const sessionCookie = async () =>
        (await own.context.cookies(stack.apiOrigin)).find((candidate) => candidate.name === SESSION_COOKIE)?.value;
      const before = await sessionCookie();

      // The session lives SESSION_TTL_SECONDS (3600 s here); each tab renews it a minute before its end.
      const refreshes = tabs.map(({ page: tabPage }) =>
        tabPage.waitForResponse((response) => response.url() === `${stack.apiOrigin}/auth/session/refresh`),
      );
      await own.context.clock.fastForward("59:10");
      // The loser's refresh carried the old cookie (401) or, sent after the winner's answer, the new
      // cookie with the old CSRF token (403).
      const [won, lost] = (await Promise.all(refreshes)).map((response) => response.status()).sort();
      expect(won).toBe(200);
      expect([401, 403]).toContain(lost);
      await expect.poll(sessionCookie).not.toBe(before);
      expect(
        (await fetch(`${stack.apiOrigin}/auth/session`, { headers: { Cookie: `${SESSION_COOKIE}=${before}` } })).status,
      ).toBe(401);

      for (const { page: tabPage, watch: tabWatch } of tabs) {
        await tabPage.locator('a[href="#/overview?window=15m"]').click();
        await tabPage.locator('[data-state="ready"][data-window="15m"]').waitFor();
        expect(await tabPage.getByRole("heading", { name: "Sign in to StreamForge" }).count()).toBe(0);
        expect(await tabWatch.cspViolations()).toEqual([]);
        expect(tabWatch.errors(), `tab ${tabs.findIndex((tab) => tab.page === tabPage)}`).toEqual([]);
      }
    } finally {
      await own.close();
    }
  });

  it("an expired session sends the page back to sign-in with a notice", async () => {
    await signIn(ACME.username);
    // The cookie's Max-Age running out, without waiting for it: the same cookie, expiring in a second.
    const cookie = (await browser.context.cookies(stack.apiOrigin)).find(
      (candidate) => candidate.name === SESSION_COOKIE,
    )!;
    await browser.context.addCookies([{ ...cookie, expires: Math.floor(Date.now() / 1000) + 1 }]);
    await expect
      .poll(
        async () =>
          (await browser.context.cookies(stack.apiOrigin)).some((candidate) => candidate.name === SESSION_COOKIE),
        { timeout: 5000 },
      )
      .toBe(false);
    await page.locator('a[href="#/overview?window=15m"]').click();
    await page.locator("[data-notice]").filter({ hasText: "Your session has ended. Sign in again." }).waitFor();
    await page.getByLabel("Username").waitFor();
  });

  it("a revoked session (signed out in another tab) sends the page back to sign-in", async () => {
    await signIn(ACME.username);
    const other = await browser.context.newPage();
    await other.goto(`${stack.dashboardOrigin}/`);
    await other.getByRole("button", { name: "Sign out" }).click();
    await other.locator("[data-notice]").waitFor();
    await other.close();
    await page.getByRole("link", { name: "Time series" }).click();
    await page.locator("[data-notice]").filter({ hasText: "Your session has ended. Sign in again." }).waitFor();
  });

  it("a 403 from the API (here: a CSRF token that does not match the session) says 'Not allowed' and stops asking after one resync", async () => {
    await signIn(ACME.username);
    watch.expectStatus(403);
    let sent = 0;
    await page.route(`${stack.apiOrigin}/metrics/overview?*`, (route) => {
      sent++;
      return route.continue({ headers: { ...route.request().headers(), "x-csrf-token": "not-this-sessions-token" } });
    });
    await page.locator('a[href="#/overview?window=15m"]').click();
    const panel = page.locator('[data-state="forbidden"]');
    await panel.waitFor();
    expect(await panel.locator("h2").textContent()).toBe("Not allowed");
    expect(await panel.locator("[data-countdown]").count()).toBe(0);
    expect(await page.locator("[data-refresh]").textContent()).toBe("");
    // One more try after taking the session's token again from GET /auth/session (another tab may
    // have renewed it); refused again, the page stops.
    expect(sent).toBe(2);
  });

  it("the same dashboard served from an origin the API does not allow cannot read the API", async () => {
    page = await browser.context.newPage();
    watch = await watchPage(page, stack.apiOrigin);
    const seen = await recordRequests(browser.context, page);
    await page.goto(`${stack.refusedOrigin!}/`);
    await page.locator('[data-state="unavailable"]').waitFor();
    expect(await page.locator('[data-state="unavailable"] h2').textContent()).toBe("The API cannot be reached");
    const toApi = seen.filter((request) => request.url.startsWith(`${stack.apiOrigin}/`));
    expect(toApi.length).toBeGreaterThan(0);
    for (const request of toApi)
      expect(request.responseHeaders ?? {}).not.toHaveProperty("access-control-allow-origin");
    await expect.poll(() => toApi.every((request) => request.corsError !== undefined)).toBe(true);
    // Chromium reports each withheld response on the console: here that is the point of the test.
    expect(watch.errors().every((line) => /CORS policy|Failed to load resource|net::ERR_FAILED/.test(line))).toBe(true);
    expect(await watch.cspViolations()).toEqual([]);
    await page.close();
  });

  // Last: the database stays down for the rest of this file.
  it("with the database down, the overview says the service is unavailable and retries with growing backoff", async () => {
    await signIn(ACME.username);
    await stack.cutDatabase();
    watch.expectStatus(503);
    /** Triggers a load, waits for its 503 and for the panel of that attempt; returns the countdown it shows. */
    const shownWait = async (attempt: number, trigger: () => Promise<void>) => {
      const answer = page.waitForResponse((response) =>
        response.url().startsWith(`${stack.apiOrigin}/metrics/overview`),
      );
      await trigger();
      const response = await answer;
      expect(response.status()).toBe(503);
      const panel = page.locator(`[data-state="unavailable"][data-attempt="${attempt}"]`);
      await panel.waitFor();
      expect(await panel.locator("h2").textContent()).toBe("Service unavailable");
      return {
        countdown: Number(await panel.locator("[data-countdown]").textContent()),
        retryAfter: Number(response.headers()["retry-after"] ?? 0),
      };
    };
    const first = await shownWait(0, () => page.locator('a[href="#/overview?window=15m"]').click());
    expect(first.countdown).toBe(Math.max(2, first.retryAfter));
    await screenshot(page, "overview-unavailable");
    // Each retry that fails waits twice as long (never less than the API's Retry-After).
    for (const [attempt, backoff] of [
      [1, 4],
      [2, 8],
      [3, 16],
    ] as const) {
      const next = await shownWait(attempt, () => page.getByRole("button", { name: "Retry now" }).click());
      expect(next.countdown).toBe(Math.max(backoff, next.retryAfter));
    }
  });
});
