/**
 * The dashboard's API keys page in Chromium against the worker under `wrangler dev`: a tenant
 * admin creates a key (shown once, with a copy button), rolls it and revokes the successor, each
 * after a confirmation, and the API refuses each key as the page says; an analyst has no such page.
 * On the page: 0 console errors, 0 CSP violations, 0 serious or critical axe-core findings.
 */
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEMO_TENANTS } from "../../scripts/lib/demo-data.ts";
import { SCANNABLE_KEY_PATTERN } from "../../src/auth/api-keys.ts";
import { TEST_SIGNING_SECRETS } from "../support/constants.ts";
import {
  type DashboardStack,
  expectCleanAndClose,
  openDashboard,
  type PageWatch,
  seriousAxeViolations,
  signInThroughForm,
  startDashboardStack,
} from "./dashboard-support.ts";
import { type Chromium, launchChromium, stopAll } from "./support.ts";

const [ACME] = DEMO_TENANTS;

describe("API keys page in Chromium", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let browser: Chromium;
  let stack: DashboardStack;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    browser = await launchChromium({ timezoneId: "Europe/Berlin" });
    cleanups.push(() => browser.close());
    stack = await startDashboardStack({
      vars: {
        RATE_LIMIT_LOGIN_IP: "100/minute",
        RATE_LIMIT_LOGIN_IPV4_24: "100/minute",
        API_KEY_SIGNING_SECRETS: JSON.stringify([TEST_SIGNING_SECRETS.current]),
      },
    });
    cleanups.push(() => stack.stop());
  });

  afterAll(() => stopAll(cleanups));
  afterEach(() => expectCleanAndClose(page, watch));

  const withKey = async (key: string) =>
    (await fetch(`${stack.apiOrigin}/auth/me`, { headers: { "X-API-Key": key } })).status;

  async function signedIn(username: string): Promise<void> {
    ({ page, watch } = await openDashboard(browser, stack));
    await signInThroughForm(page, username);
    await page.locator('[data-state="ready"][data-window]').waitFor();
  }

  it("lets a tenant admin create a key shown once, roll it and revoke the successor, and the API agrees", async () => {
    await signedIn(ACME.adminUsername);
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("heading", { name: "API keys", level: 1 }).waitFor();

    await page.getByLabel("Name").fill("browser deploys");
    await page.getByRole("button", { name: "Create key" }).click();
    const shown = page.locator("#new-key-value");
    await shown.waitFor();
    const first = await shown.inputValue();
    expect(first).toMatch(new RegExp(`^${SCANNABLE_KEY_PATTERN}$`));
    await expect(page.getByText("Copy it now: it is shown once and never again.").isVisible()).resolves.toBe(true);
    await expect(page.getByRole("button", { name: "Copy" }).isVisible()).resolves.toBe(true);
    expect(await withKey(first)).toBe(200);
    expect(await seriousAxeViolations(page)).toEqual([]);

    const row = page.locator('tr[data-state="active"]', { hasText: "browser deploys" }).first();
    const firstId = await row.getAttribute("data-key");
    await row.getByRole("button", { name: "Roll" }).click();
    await page.getByRole("button", { name: "Confirm: roll" }).click();
    await page.locator(`tr[data-key="${firstId}"][data-state="revoked"]`).waitFor();
    const second = await shown.inputValue();
    expect(second).not.toBe(first);
    // No grace period chosen: the predecessor is refused at once, the successor works.
    expect(await withKey(first)).toBe(403);
    expect(await withKey(second)).toBe(200);

    const successor = page.locator('tr[data-state="active"]', { hasText: "browser deploys" }).first();
    const secondId = await successor.getAttribute("data-key");
    await successor.getByRole("button", { name: "Revoke" }).click();
    // The confirmation can be cancelled: nothing happens.
    await page.getByRole("button", { name: "Cancel" }).click();
    expect(await withKey(second)).toBe(200);
    await successor.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("button", { name: "Confirm: revoke" }).click();
    const revoked = page.locator(`tr[data-key="${secondId}"][data-state="revoked"]`);
    await revoked.waitFor();
    expect(await revoked.locator("[data-state-text]").textContent()).toBe(`revoked: revoked by ${ACME.adminUsername}`);
    expect(await withKey(second)).toBe(403);
    expect(await seriousAxeViolations(page)).toEqual([]);
  });

  it("shows an analyst no API keys page", async () => {
    await signedIn(ACME.username);
    expect(await page.getByRole("link", { name: "API keys" }).count()).toBe(0);
    await page.goto(`${stack.dashboardOrigin}/#/keys`);
    await page.locator('[data-state="ready"][data-window]').waitFor();
    expect(await page.getByRole("heading", { name: "API keys" }).count()).toBe(0);
  });
});
