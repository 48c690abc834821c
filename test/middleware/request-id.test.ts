import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/env.ts";
import { layer } from "../../src/middleware/layer.ts";
import { requestId } from "../../src/middleware/request-id.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function app() {
  const router = new Hono<AppEnv>();
  router.use(layer(requestId()));
  router.get("/", (c) => c.json({ seen: c.get("requestId") }));
  return router;
}

describe("requestId", () => {
  it("gives the response and the request's context the same fresh UUID", async () => {
    const response = await app().request("/");
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    expect(await response.json()).toEqual({ seen: id });
  });

  it("never takes a client-sent id, well-formed or not", async () => {
    for (const sent of ["forged-id-123", "0f8fad5b-d9cb-469f-a165-70867728950e", ""]) {
      const response = await app().request("/", { headers: { "X-Request-Id": sent } });
      expect(response.headers.get("x-request-id")).toMatch(UUID);
      expect(response.headers.get("x-request-id")).not.toBe(sent);
    }
  });

  it("gives each request its own id", async () => {
    const router = app();
    const ids = await Promise.all(
      Array.from({ length: 20 }, async () => (await router.request("/")).headers.get("x-request-id")),
    );
    expect(new Set(ids).size).toBe(20);
  });
});
