/**
 * `wrangler dev` against the clients that used to stop it: raw sockets that declare a body and never
 * send it, abort an upload halfway, or declare an absurd Content-Length. Nothing supervises wrangler
 * any more, so it must keep answering through them: a probe every 100 ms, during and after the
 * hang-ups, and not one may fail.
 */
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/postgres.ts";
import { type RunningWorker, startWranglerDev, waitForHttp } from "../../scripts/lib/wrangler-dev.ts";

const PROBE_INTERVAL_MS = 100;
/** Probing goes on this long after the last hang-up: wrangler 4.124 had exited within a second. */
const PROBE_AFTER_MS = 3_000;

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

/** Probes `url` every PROBE_INTERVAL_MS until `stop` resolves; returns the failures it saw. */
async function probeUntil(url: string, stop: Promise<unknown>): Promise<{ probes: number; failures: string[] }> {
  let stopped = false;
  void stop.finally(() => (stopped = true));
  const failures: string[] = [];
  let probes = 0;
  while (!stopped) {
    const started = Date.now();
    probes++;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status !== 200) failures.push(`status ${response.status}`);
    } catch (error) {
      failures.push(String(error));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, PROBE_INTERVAL_MS - (Date.now() - started))));
  }
  return { probes, failures };
}

describe("wrangler dev without a supervisor", () => {
  let worker: RunningWorker;
  let port: number;
  let persistTo: string;

  beforeAll(async () => {
    port = await freePort();
    persistTo = await mkdtemp(path.join(tmpdir(), "streamforge-wrangler-"));
    worker = await startWranglerDev({
      port,
      logLevel: "error",
      persistTo,
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
    await waitForHttp(`${worker.url}/health`, 60_000);
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

  it("answers every probe during and after three clients that hang up mid-request", { timeout: 60_000 }, async () => {
    const head = (lengthHeader: string) =>
      `POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n${lengthHeader}\r\n\r\n`;
    const hangUps = (async () => {
      await hangUpMidRequest(port, head("Content-Length: 10"));
      await hangUpMidRequest(port, head("Content-Length: 1000"), `{"username":"${"a".repeat(400)}`);
      await hangUpMidRequest(port, head("Content-Length: 99999999999999999999"), "{}");
      await new Promise((resolve) => setTimeout(resolve, PROBE_AFTER_MS));
    })();
    const { probes, failures } = await probeUntil(`${worker.url}/health`, hangUps);
    await hangUps;
    expect(probes).toBeGreaterThan(PROBE_AFTER_MS / PROBE_INTERVAL_MS / 2);
    expect(failures).toEqual([]);
    expect(worker.child.exitCode).toBeNull();
  });
});
