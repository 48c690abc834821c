/**
 * `npm run dev` against the clients that used to stop it: raw sockets that declare a body and never
 * send it, abort an upload halfway, or declare an absurd Content-Length. wrangler 4.124 exits on
 * each; the supervisor must bring the same URL back, serving, every time.
 */
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/postgres.ts";
import { superviseWranglerDev, waitForHttp, type SupervisedWorker } from "../../scripts/lib/wrangler-dev.ts";

/** Restarting is bundling and starting workerd again: seconds, more on a busy machine. */
const BACK_WITHIN_MS = 60_000;

/** Writes `head` (and `partialBody`) on a raw socket, then hangs up without sending the rest. */
function hangUpMidRequest(port: number, head: string, partialBody = ""): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(head + partialBody);
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 300);
    });
    socket.on("error", reject);
  });
}

describe("wrangler dev under supervision", () => {
  let worker: SupervisedWorker;
  let port: number;
  let persistTo: string;
  const notices: string[] = [];
  let gaveUp = false;

  beforeAll(async () => {
    port = await freePort();
    persistTo = await mkdtemp(path.join(tmpdir(), "streamforge-wrangler-"));
    worker = superviseWranglerDev({
      port,
      logLevel: "error",
      persistTo,
      log: (line) => notices.push(line),
      // /health never touches the database: the settings only have to pass the env schema.
      vars: {
        APP_ENV: "local",
        LOCAL_SQL_ENDPOINT: "http://127.0.0.1:9/sql",
        LOCAL_SQL_SECRET: "wrangler-dev-test-sql-secret-0123456789abcdef",
        TENANT_SCOPE_KEY: "wrangler-dev-test-scope-key-0123456789abcdef",
        DATABASE_URL: "postgres://nobody@127.0.0.1:9/none",
        AUTH_DATABASE_URL: "postgres://nobody@127.0.0.1:9/none",
        PASSWORD_PEPPER: "wrangler-dev-test-pepper-0123456789abcdef",
        JWT_SIGNING_KEY: "wrangler-dev-test-signing-key-0123456789abcdef",
        ALLOWED_HOSTS: `127.0.0.1:${port}`,
        ALLOWED_ORIGINS: "https://app.streamforge.test",
      },
    });
    void worker.gaveUp.then(() => {
      gaveUp = true;
    });
    await waitForHttp(`${worker.url}/health`, BACK_WITHIN_MS);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await rm(persistTo, { recursive: true, force: true });
  });

  it("serves an ordinary request", async () => {
    const response = await fetch(`${worker.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it.each([
    ["a declared body that never arrives", "Content-Length: 10", ""],
    ["an upload aborted halfway", "Content-Length: 1000", `{"username":"${"a".repeat(400)}`],
    ["an absurd Content-Length", "Content-Length: 99999999999999999999", "{}"],
  ])("comes back on the same URL after %s", { timeout: 120_000 }, async (_label, lengthHeader, partialBody) => {
    const head = `POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n${lengthHeader}\r\n\r\n`;
    await hangUpMidRequest(port, head, partialBody);
    // Long enough for wrangler to have died, if it does, before the first probe.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await waitForHttp(`${worker.url}/health`, BACK_WITHIN_MS);
    expect(gaveUp).toBe(false);
  });

  it("restarted wrangler for the requests that stopped it, and said so", () => {
    expect(worker.restarts()).toBe(notices.filter((line) => line.includes("restarting")).length);
    expect(worker.restarts()).toBeGreaterThan(0);
  });
});
