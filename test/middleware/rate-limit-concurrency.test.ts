/**
 * Requests of one client that arrive together share the isolate's in-flight limiter call: one asks
 * the object, the others wait for the lease it brings. Each request is its own I/O context in
 * workerd, so nothing one of them creates may be settled or read by another; these tests go
 * through the worker's own entry point, where every request is a separate context, as in
 * production (app.request() in one test would run them all in the test's context).
 */
import { describe, expect, it } from "vitest";
import { fetchWorker } from "../support/app.ts";
import { TEST_API_KEYS } from "../support/constants.ts";

const ROUNDS = 8;
const BURST = 12;

/** What the client saw: the status and type of an answer, or the error the runtime gave instead. */
async function outcome(request: Promise<Response>): Promise<string> {
  try {
    const response = await request;
    await response.arrayBuffer();
    return `${response.status} ${response.headers.get("content-type")}`;
  } catch (error) {
    return `no answer: ${error instanceof Error ? error.message.slice(0, 80) : String(error)}`;
  }
}

describe("rate limiter under concurrent requests of one client", () => {
  it("answers every request of a burst that waits on another request's object call", async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // A new client each round, so each burst starts with no lease and no refusal cached.
      const headers = { "CF-Connecting-IP": `10.94.${round}.1`, "X-API-Key": TEST_API_KEYS.acmeCurrent.key };
      outcomes.push(
        ...(await Promise.all(Array.from({ length: BURST }, () => outcome(fetchWorker("/auth/me", { headers }))))),
      );
    }
    expect(outcomes).toEqual(Array.from({ length: ROUNDS * BURST }, () => "200 application/json"));
  });
});
