/**
 * The dashboard's session as Chromium runs it: a page on `http://localhost:<port>` (the dashboard's
 * dev origin) signs in against the worker on `http://localhost:<other port>` with
 * `credentials: "include"`, reloads its state, reads with the CSRF token, refreshes and signs out.
 * Only a browser decides whether a `__Host-`, Secure, SameSite=Strict cookie is stored and sent
 * across ports, and which response headers page script may read; the worker suite cannot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { type Chromium, launchChromium, startLocalWorker, startStaticPage, stopAll } from "./support.ts";

interface Step {
  status: number;
  body: unknown;
  /** Headers only readable through Access-Control-Expose-Headers. */
  rateLimit: string | null;
  requestId: string | null;
}

type SessionRun = Record<
  "signIn" | "reload" | "me" | "meWithoutCsrf" | "refresh" | "meAfterRefresh" | "logout" | "afterLogout",
  Step
> & {
  pageCookies: string;
};

/** The page: every step the dashboard takes, each answer as its script can see it, left in `window.results`. */
function sessionPage(workerUrl: string): string {
  return `<!doctype html>
<meta charset="utf-8">
<title>Session probe</title>
<script type="module">
const workerUrl = ${JSON.stringify(workerUrl)};
async function call(path, init = {}) {
  try {
    const response = await fetch(workerUrl + path, { credentials: "include", ...init });
    const text = await response.text();
    return { status: response.status, body: text === "" ? null : JSON.parse(text), rateLimit: response.headers.get("RateLimit"), requestId: response.headers.get("X-Request-Id") };
  } catch (error) {
    return { status: 0, body: String(error), rateLimit: null, requestId: null };
  }
}
const results = {};
results.signIn = await call("/auth/session", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ username: "acme_analyst", password: ${JSON.stringify(DEMO_PASSWORD)} }),
});
results.reload = await call("/auth/session");
const csrf = results.reload.body?.csrfToken ?? "";
results.me = await call("/auth/me", { headers: { "X-CSRF-Token": csrf } });
results.meWithoutCsrf = await call("/auth/me");
results.refresh = await call("/auth/session/refresh", { method: "POST", headers: { "X-CSRF-Token": csrf } });
const renewed = results.refresh.body?.csrfToken ?? "";
results.meAfterRefresh = await call("/auth/me", { headers: { "X-CSRF-Token": renewed } });
results.logout = await call("/auth/logout", { method: "POST", headers: { "X-CSRF-Token": renewed } });
results.afterLogout = await call("/auth/session");
results.pageCookies = document.cookie;
window.results = results;
</script>
`;
}

describe("dashboard session in Chromium", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let browser: Chromium;
  let dashboardOrigin: string;
  let refusedOrigin: string;

  beforeAll(async () => {
    browser = await launchChromium();
    cleanups.push(() => browser.close());
    const worker = await startLocalWorker();
    cleanups.push(() => worker.stop());
    const workerUrl = `http://localhost:${worker.port}`;
    const dashboard = await startStaticPage(sessionPage(workerUrl), "localhost");
    cleanups.push(() => dashboard.close());
    const refused = await startStaticPage(sessionPage(workerUrl), "localhost");
    cleanups.push(() => refused.close());
    dashboardOrigin = dashboard.origin;
    refusedOrigin = refused.origin;
    await worker.configure({ allowedOrigins: [dashboardOrigin] });
  });

  afterAll(() => stopAll(cleanups));

  async function run(origin: string): Promise<SessionRun> {
    const page = await browser.context.newPage();
    try {
      await page.goto(`${origin}/`);
      const handle = await page.waitForFunction(() => (globalThis as { results?: SessionRun }).results);
      return (await handle.jsonValue()) as SessionRun;
    } finally {
      await page.close();
    }
  }

  it("signs in, survives a reload, reads with the CSRF token, refreshes and signs out", async () => {
    const results = await run(dashboardOrigin);
    const principal = { subject: "acme_analyst", tenant: "acme" };
    expect(results.signIn).toMatchObject({ status: 200, body: { principal, csrfToken: expect.any(String) } });
    // The cookie came back on a plain GET: Chromium stored it and sends it across ports of localhost.
    expect(results.reload).toMatchObject({
      status: 200,
      body: { principal, csrfToken: (results.signIn.body as { csrfToken: string }).csrfToken },
    });
    expect(results.me).toMatchObject({ status: 200, body: { kind: "user", ...principal } });
    // Exposed to page script: the rate-limit state and the request id.
    expect(results.me.rateLimit).toMatch(/^"api";r=\d+;t=\d+, "principal";r=\d+;t=\d+$/);
    expect(results.me.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(results.meWithoutCsrf).toMatchObject({ status: 403, body: { code: "csrf-token-invalid" } });
    expect(results.refresh).toMatchObject({ status: 200, body: { principal } });
    expect((results.refresh.body as { csrfToken: string }).csrfToken).not.toBe(
      (results.signIn.body as { csrfToken: string }).csrfToken,
    );
    expect(results.meAfterRefresh).toMatchObject({ status: 200, body: { kind: "user", ...principal } });
    expect(results.logout.status).toBe(204);
    expect(results.afterLogout).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    // HttpOnly: cookies belong to the host, not the port, yet page script never sees the session's.
    expect(results.pageCookies).not.toContain("sf-session");
  });

  it("gives a page of a refused origin, though same-site, nothing to read and no session", async () => {
    const results = await run(refusedOrigin);
    for (const step of ["signIn", "reload", "me", "refresh", "logout"] as const) {
      expect(results[step], step).toEqual({
        status: 0,
        body: "TypeError: Failed to fetch",
        rateLimit: null,
        requestId: null,
      });
    }
  });
});
