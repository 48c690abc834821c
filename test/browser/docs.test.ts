/**
 * The /docs page as a browser runs it: Swagger UI must render from this worker's origin alone,
 * under the docs CSP (no third party, no 'unsafe-inline'). A CSP violation or a script error shows
 * up in the console, so an empty console is the proof the policy and the page fit each other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Chromium, launchChromium, startLocalWorker, stopAll } from "./support.ts";

describe("API docs in Chromium", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let browser: Chromium;
  let workerUrl: string;

  beforeAll(async () => {
    browser = await launchChromium();
    cleanups.push(() => browser.close());
    const worker = await startLocalWorker();
    cleanups.push(() => worker.stop());
    // The docs page is same-origin; the allowlist only has to be valid.
    await worker.configure({ allowedOrigins: ["https://app.streamforge.test"] });
    workerUrl = worker.url;
  });

  afterAll(() => stopAll(cleanups));

  it("renders every operation with Swagger UI from this origin, with no CSP violation or script error", async () => {
    const page = await browser.context.newPage();
    try {
      const consoleProblems: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error" || message.type() === "warning") consoleProblems.push(message.text());
      });
      page.on("pageerror", (error) => consoleProblems.push(String(error)));
      const requested: string[] = [];
      page.on("request", (request) => requested.push(request.url()));
      const failed: string[] = [];
      page.on("response", (response) => {
        if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
      });

      await page.goto(`${workerUrl}/docs`);
      await page.waitForSelector(".opblock-summary-path", { timeout: 15_000 });
      expect(await page.textContent(".swagger-ui .info .title")).toContain("StreamForge Edge API");
      const paths = await page.$$eval(".opblock-summary-path", (elements) =>
        elements.map((element) => element.textContent?.trim()),
      );
      expect(paths).toEqual(
        expect.arrayContaining([
          "/health",
          "/health/ready",
          "/auth/login",
          "/auth/me",
          "/metrics/overview",
          "/metrics/timeseries",
          "/streams",
        ]),
      );

      expect(failed).toEqual([]);
      expect(consoleProblems).toEqual([]);
      const foreign = requested.filter((url) => !url.startsWith(`${workerUrl}/`) && !url.startsWith("data:"));
      expect(foreign).toEqual([]);
      expect(requested).toEqual(
        expect.arrayContaining([`${workerUrl}/docs/swagger-ui-bundle.js`, `${workerUrl}/openapi.json`]),
      );
    } finally {
      await page.close();
    }
  });
});
