import { describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { fetchWorker } from "../support/app.ts";
import { TEST_JWT_SIGNING_KEY } from "../support/constants.ts";

const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};

/**
 * `total` requests from one client through the worker's own fetch, `parallel` in flight at a time,
 * as `xargs -P` sends them.
 */
async function pooledBurst(
  path: string,
  headers: Record<string, string>,
  total: number,
  parallel: number,
): Promise<Record<string, number>> {
  let sent = 0;
  const statuses: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (sent < total) {
        sent++;
        const outcome = await fetchWorker(path, { headers }).then(
          async (response) => {
            await response.arrayBuffer();
            return String(response.status);
          },
          () => "never answered",
        );
        statuses[outcome] = (statuses[outcome] ?? 0) + 1;
      }
    }),
  );
  return statuses;
}

describe("a burst of one client, each request in its own request context", () => {
  it("admits exactly the limit of 300 requests sent 50 at a time, and answers every other with 429", {
    timeout: 60_000,
  }, async () => {
    const token = await issueToken({ sub: "globex_analyst", tenant: "globex" }, TOKENS);
    const statuses = await pooledBurst(
      "/auth/me",
      { Authorization: `Bearer ${token}`, "CF-Connecting-IP": "10.78.0.1" },
      300,
      50,
    );
    expect(statuses).toEqual({ "200": 100, "429": 200 });
  });
});
