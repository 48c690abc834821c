/**
 * The dashboard against an API with tight limits (10 reads and 3 sign-in attempts a minute per
 * client): its refresh timer slows down as the API's `r` falls and waits for the reset once only
 * its reserve is left; a 429 the user's own clicks earn shows a live countdown from Retry-After,
 * on the overview and on sign-in. Chromium and this file's own requests share the loopback
 * client's limits, so the test spends permits from Node to get there quickly. Each limit gets its
 * own API, so that one test's exhausted limit cannot decide the other's outcome.
 */
import type { Page, Response } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseRateLimit, type RateLimitItem, reserveFor } from "../../dashboard/src/rate-limit.ts";
import { DEMO_TENANTS } from "../../scripts/lib/demo-data.ts";
import {
  bearerToken,
  type DashboardStack,
  expectCleanAndClose,
  openDashboard,
  type PageWatch,
  screenshot,
  signInThroughForm,
  startDashboardStack,
} from "./dashboard-support.ts";
import { type Chromium, launchChromium, stopAll } from "./support.ts";

/**
 * Reads a minute. The page starts at its base pace while more than the reserve (a fifth) plus four
 * are left: at 20 that holds even when a slow sign-in lets the page read a few times more than on an
 * idle machine; at 10 it did not, beside other files on two cores.
 */
const API_LIMIT = 20;

/** The per-client "api" limit from a response's headers (lower-case names). */
function apiLimit(header: (name: string) => string | null | undefined): RateLimitItem {
  const item = parseRateLimit(header("ratelimit") ?? null, header("ratelimit-policy") ?? null).find(
    (candidate) => candidate.policy === "api",
  );
  if (item === undefined) throw new Error(`no "api" item in RateLimit: ${header("ratelimit")}`);
  return item;
}

const cleanups: (() => Promise<void>)[] = [];
let browser: Chromium;
let page: Page | undefined;
let watch: PageWatch | undefined;

beforeAll(async () => {
  browser = await launchChromium();
  cleanups.push(() => browser.close());
});
afterAll(() => stopAll(cleanups));
afterEach(() => expectCleanAndClose(page, watch));

async function startStack(vars: Record<string, string>): Promise<DashboardStack> {
  const stack = await startDashboardStack({ vars });
  cleanups.push(() => stack.stop());
  return stack;
}

describe(`dashboard overview under an API limit of ${API_LIMIT} reads a minute`, () => {
  let stack: DashboardStack;
  /** A valid credential of another user: reads without one are answered 401 before any limit. */
  let nodeToken: string;
  beforeAll(async () => {
    stack = await startStack({ RATE_LIMIT_API: `${API_LIMIT}/minute` });
    nodeToken = await bearerToken(stack.apiOrigin, "globex_analyst");
  });

  /** Spends the loopback client's API permits from Node until `r` is at most `target`; returns the last answer's limit. */
  async function spendUntil(target: number): Promise<RateLimitItem | undefined> {
    for (let request = 0; request < API_LIMIT + 2; request++) {
      const response = await fetch(`${stack.apiOrigin}/metrics/overview`, {
        headers: { Authorization: `Bearer ${nodeToken}` },
      });
      await response.arrayBuffer();
      if (response.status === 429) return undefined;
      const limit = apiLimit((name) => response.headers.get(name));
      if (limit.remaining <= target) return limit;
    }
    throw new Error("the API never ran low: Chromium and this test do not share a client key");
  }

  const overviewResponse = (current: Page, window: string) =>
    current.waitForResponse((response: Response) =>
      response.url().startsWith(`${stack.apiOrigin}/metrics/overview?window=${window}`),
    );

  it("the refresh timer slows down as r falls and waits for the reset at the reserve; a 429 from a click counts down from Retry-After", async () => {
    ({ page, watch } = await openDashboard(browser, stack));
    const current = page;
    await signInThroughForm(current, DEMO_TENANTS[0].username);
    await current.locator('[data-state="ready"][data-window]').waitFor();
    expect(Number(await current.locator("[data-refresh]").getAttribute("data-delay-ms"))).toBe(15_000);

    // One permit above the reserve: the next answer leaves only the reserve.
    const reserve = reserveFor({ policy: "api", remaining: 0, resetSeconds: 0, quota: API_LIMIT });
    await spendUntil(reserve + 1);
    const answer = overviewResponse(current, "15m");
    await current.locator('a[href="#/overview?window=15m"]').click();
    const answered = await answer;
    const limit = apiLimit((name) => answered.headers()[name]);
    expect(limit.remaining).toBeLessThanOrEqual(reserve);
    await current.locator('[data-state="ready"][data-window="15m"]').waitFor();
    await expect.poll(() => current.locator("[data-refresh]").textContent()).toContain("Slowed down");
    expect(Number(await current.locator("[data-refresh]").getAttribute("data-delay-ms"))).toBeGreaterThanOrEqual(
      (limit.resetSeconds + 1) * 1000,
    );

    // The reserve is for the user; spent here, a click earns the 429 and its countdown.
    watch.expectStatus(429);
    await spendUntil(0);
    const refused = overviewResponse(current, "1h");
    await current.locator('a[href="#/overview?window=1h"]').click();
    const refusal = await refused;
    expect(refusal.status()).toBe(429);
    const retryAfter = Number(refusal.headers()["retry-after"]);
    const panel = current.locator('[data-state="rate-limited"]');
    await panel.waitFor();
    const first = Number(await panel.locator("[data-countdown]").textContent());
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(retryAfter);
    await expect
      .poll(async () => Number(await panel.locator("[data-countdown]").textContent()), { timeout: 4000 })
      .toBeLessThan(first);
    // The API said when to come back; there is no button to ask again sooner.
    expect(await panel.getByRole("button").count()).toBe(0);
    await screenshot(current, "overview-rate-limited");
  });
});

describe("dashboard sign-in under a limit of 3 attempts a minute", () => {
  let stack: DashboardStack;
  beforeAll(async () => {
    stack = await startStack({ RATE_LIMIT_LOGIN_IP: "3/minute" });
  });

  it("sign-in: past the per-client attempt limit the page counts down from Retry-After with the button disabled", async () => {
    ({ page, watch } = await openDashboard(browser, stack));
    const current = page;
    watch.expectStatus(401, 429);
    const formError = current.locator("#form-error");
    const submit = current.getByRole("button", { name: "Sign in" });
    let state: string | null = null;
    // A name of its own per attempt: attempts at one name are also paced per username, whose short
    // Retry-After (1–2 s) would end the countdown before it could be seen going down.
    for (let attempt = 0; attempt < 6 && state !== "rate-limited"; attempt++) {
      await formError.evaluate((element) =>
        (element as unknown as { removeAttribute(name: string): void }).removeAttribute("data-state"),
      );
      await signInThroughForm(current, `${DEMO_TENANTS[2].username}_${attempt}`, "wrong-password-123");
      await expect.poll(() => formError.getAttribute("data-state")).not.toBeNull();
      state = await formError.getAttribute("data-state");
      expect(["wrong-credentials", "rate-limited"]).toContain(state);
    }
    expect(state).toBe("rate-limited");
    expect(await formError.textContent()).toMatch(/^Too many sign-in attempts\. Try again in \d+ s\.$/);
    expect(await submit.isDisabled()).toBe(true);
    const first = Number(await formError.locator("[data-countdown]").textContent());
    expect(first).toBeGreaterThan(0);
    await expect
      .poll(async () => Number(await formError.locator("[data-countdown]").textContent()), { timeout: 4000 })
      .toBeLessThan(first);
    expect(await submit.isDisabled()).toBe(true);
    await screenshot(current, "sign-in-rate-limited");
  });
});
