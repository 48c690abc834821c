import { describe, expect, it } from "vitest";
import { onError } from "../../src/errors.ts";
import { jsonBody } from "../../src/middleware/json-body.ts";
import { createRouter } from "../../src/openapi.ts";

function tinyApp() {
  const app = createRouter();
  app.post("/echo", jsonBody({ maxBytes: 64 }), async (c) => c.json({ received: await c.req.json() }));
  app.onError(onError);
  return app;
}

async function post(body: BodyInit, contentType?: string): Promise<Response> {
  return tinyApp().request("/echo", {
    method: "POST",
    body,
    headers: contentType === undefined ? {} : { "Content-Type": contentType },
  });
}

describe("JSON body middleware", () => {
  it("passes a small well-formed JSON body to the route", async () => {
    const response = await post(JSON.stringify({ a: 1 }), "application/json; charset=utf-8");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: { a: 1 } });
  });

  it.each([
    ["no content type", undefined],
    ["a form post", "application/x-www-form-urlencoded"],
    ["text/plain, the CORS-simple type that skips preflight", "text/plain"],
    ["a JSON look-alike type", "application/json-patch+json"],
  ])("answers %s with a 415 problem", async (_label, contentType) => {
    const response = await post('{"a":1}', contentType);
    expect(response.status).toBe(415);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({ status: 415, code: "unsupported-media-type" });
  });

  it("answers a body over the limit with a 413 problem", async () => {
    const response = await post(JSON.stringify({ padding: "x".repeat(100) }), "application/json");
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ status: 413, code: "payload-too-large" });
  });

  it("counts a streamed body without Content-Length against the limit", async () => {
    const chunks = [
      new TextEncoder().encode('{"padding":"'),
      new TextEncoder().encode("y".repeat(100)),
      new TextEncoder().encode('"}'),
    ];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks.shift();
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await post(stream, "application/json");
    expect(response.status).toBe(413);
  });

  it.each([
    ["truncated", '{"a":'],
    ["not JSON at all", "username=admin"],
    ["empty", ""],
  ])("answers a %s body with a 400 malformed-json problem", async (_label, body) => {
    const response = await post(body, "application/json");
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ status: 400, code: "malformed-json" });
    expect(text).not.toContain("SyntaxError");
  });
});
