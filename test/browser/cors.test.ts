/**
 * The CORS allowlist as a browser enforces it: pages on two loopback origins call the worker under
 * `wrangler dev` with credentials. Only Chromium decides what a page's script may read, so this is
 * the proof that the headers the worker suite checks actually unlock (and withhold) responses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Chromium,
  corsProbePage,
  launchChromium,
  type ProbeResults,
  recordRequests,
  type SeenRequest,
  startLocalWorker,
  startStaticPage,
  stopAll,
} from "./support.ts";

describe("CORS allowlist in Chromium", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let browser: Chromium;
  let workerUrl: string;
  let allowedOrigin: string;
  let refusedOrigin: string;

  beforeAll(async () => {
    // First, so a machine without Chromium fails at once with the install hint.
    browser = await launchChromium();
    cleanups.push(() => browser.close());
    const worker = await startLocalWorker();
    cleanups.push(() => worker.stop());
    workerUrl = `http://127.0.0.1:${worker.port}`;
    const allowedPage = await startStaticPage(corsProbePage(workerUrl));
    cleanups.push(() => allowedPage.close());
    // Same host as the allowed page, another port: a different origin, which the allowlist must refuse.
    const refusedPage = await startStaticPage(corsProbePage(workerUrl));
    cleanups.push(() => refusedPage.close());
    allowedOrigin = allowedPage.origin;
    refusedOrigin = refusedPage.origin;
    await worker.configure({ allowedOrigins: [allowedOrigin] });
  });

  afterAll(() => stopAll(cleanups));

  /** Loads the page at `origin`; returns what its script read and every request Chromium made to the worker. */
  async function visit(origin: string): Promise<{ results: ProbeResults; toWorker: SeenRequest[] }> {
    const page = await browser.context.newPage();
    try {
      const seen = await recordRequests(browser.context, page);
      await page.goto(`${origin}/`);
      const handle = await page.waitForFunction(() => (globalThis as { results?: ProbeResults }).results);
      const results = (await handle.jsonValue()) as ProbeResults;
      const toWorker = () => seen.filter((request) => request.url.startsWith(`${workerUrl}/`));
      // The DevTools events can trail the page's own view of its fetches.
      await expect.poll(() => toWorker().length > 0 && toWorker().every((request) => request.finished)).toBe(true);
      return { results, toWorker: toWorker() };
    } finally {
      await page.close();
    }
  }

  /** The one request in `toWorker` with this method and initiator; fails when there is not exactly one. */
  function only(toWorker: SeenRequest[], method: string, initiator: "script" | "preflight"): SeenRequest {
    const matching = toWorker.filter((request) => request.method === method && request.initiator === initiator);
    expect(matching, `${initiator} ${method} requests`).toHaveLength(1);
    return matching[0]!;
  }

  it("an allowed origin's page reads the credentialed JSON POST and GET responses", async () => {
    const { results, toWorker } = await visit(allowedOrigin);

    expect(results.health).toEqual({ ok: true, status: 200, body: { status: "ok" } });
    // The probe sends a wrong password: the script must be able to read exactly that refusal.
    expect(results.login).toMatchObject({ ok: true, status: 401, body: { status: 401, code: "invalid-credentials" } });

    // Chromium asked first, and the worker granted exactly this origin, with credentials.
    expect(toWorker).toHaveLength(3);
    expect(only(toWorker, "OPTIONS", "preflight")).toMatchObject({
      url: `${workerUrl}/auth/login`,
      requestHeaders: {
        origin: allowedOrigin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
      status: 204,
      responseHeaders: { "access-control-allow-origin": allowedOrigin, "access-control-allow-credentials": "true" },
    });
    for (const request of [only(toWorker, "POST", "script"), only(toWorker, "GET", "script")]) {
      expect(request.responseHeaders).toMatchObject({
        "access-control-allow-origin": allowedOrigin,
        "access-control-allow-credentials": "true",
        vary: expect.stringMatching(/\bOrigin\b/),
      });
      expect(request.corsError).toBeUndefined();
    }
  });

  it("a refused origin's page cannot read either response", async () => {
    const { results, toWorker } = await visit(refusedOrigin);

    expect(results).toEqual({
      login: { ok: false, error: "TypeError: Failed to fetch" },
      health: { ok: false, error: "TypeError: Failed to fetch" },
    });

    // The refusal is the worker's: its preflight answer is a 403 without a CORS grant, so Chromium
    // never sends the POST. The GET needs no preflight and reaches the worker; only its body is
    // withheld from the script, because no Access-Control-Allow-Origin came back.
    expect(toWorker).toHaveLength(3);
    const preflight = only(toWorker, "OPTIONS", "preflight");
    expect(preflight).toMatchObject({
      url: `${workerUrl}/auth/login`,
      requestHeaders: { origin: refusedOrigin },
      status: 403,
    });
    expect(preflight.responseHeaders).not.toHaveProperty("access-control-allow-origin");

    const login = only(toWorker, "POST", "script");
    expect(login.status).toBeUndefined();
    expect(login.corsError).toBe("PreflightMissingAllowOriginHeader");

    const health = only(toWorker, "GET", "script");
    expect(health).toMatchObject({ url: `${workerUrl}/health`, status: 200, corsError: "MissingAllowOriginHeader" });
    expect(health.responseHeaders).not.toHaveProperty("access-control-allow-origin");
    expect(health.responseHeaders).not.toHaveProperty("access-control-allow-credentials");
  });
});
