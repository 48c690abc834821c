import { describe, expect, it } from "vitest";
import { fetchWorker, readProblem, requestWith } from "../support/app.ts";

describe("health routes", () => {
  it("answers liveness with 200 without touching the database", async () => {
    const response = await requestWith({ DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" }, "/health");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("answers readiness with 200 after a real query through the Neon driver", async () => {
    const response = await fetchWorker("/health/ready");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ready", database: "ok" });
  });

  it("answers readiness with a 503 problem and Retry-After when the database is unreachable", async () => {
    const response = await requestWith(
      { DATABASE_URL: "postgres://app:secret-password@127.0.0.1:1/streamforge?sslmode=disable" },
      "/health/ready",
    );
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.headers.get("retry-after")).toBe("5");
    const text = await response.text();
    const problem = JSON.parse(text) as Record<string, unknown>;
    expect(problem).toMatchObject({ status: 503, code: "database-unavailable", title: "Database unavailable" });
    // Nothing of the driver's error or the connection string may reach the client.
    for (const leak of ["secret-password", "127.0.0.1", "ECONNREFUSED", "connect", "socket", "WebSocket"]) {
      expect(text).not.toContain(leak);
    }
  });

  it("answers concurrent readiness requests of one isolate from one shared check", async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        fetchWorker("/health/ready", { headers: { "CF-Connecting-IP": `10.71.0.${index + 1}` } }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array.from({ length: 50 }, () => 200));
  });

  it("limits readiness per client IP like the other database routes: 429 with Retry-After once the policy is spent", async () => {
    const init = { headers: { "CF-Connecting-IP": "10.70.0.1" } };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await requestWith({ RATE_LIMIT_API: "3/minute" }, "/health/ready", init)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await requestWith({ RATE_LIMIT_API: "3/minute" }, "/health/ready", init);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another client still gets its answer: the limit is per IP, not a switch anyone can flip.
    expect(
      (
        await requestWith({ RATE_LIMIT_API: "3/minute" }, "/health/ready", {
          headers: { "CF-Connecting-IP": "10.70.0.2" },
        })
      ).status,
    ).toBe(200);
  });

  it("gives every response a server-generated request id, ignoring a client-sent one", async () => {
    const response = await fetchWorker("/health", { headers: { "X-Request-Id": "forged-id-123" } });
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(id).not.toBe("forged-id-123");
  });

  it("answers an unknown path with a 404 problem carrying the request id", async () => {
    const response = await fetchWorker("/no-such-thing");
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const problem = await readProblem(response);
    expect(problem).toMatchObject({
      status: 404,
      code: "not-found",
      instance: `urn:uuid:${response.headers.get("x-request-id")}`,
    });
    expect(problem.request_id).toBe(response.headers.get("x-request-id"));
  });
});
