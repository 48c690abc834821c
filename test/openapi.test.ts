import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/env.ts";
import { documentedRoutes } from "../src/openapi.ts";
import { openApiDocument } from "../src/openapi-document.ts";
import { fetchWorker } from "./support/app.ts";

/** The document of the routes the worker's app mounts, from the definitions that validate them. */
function generatedDocument() {
  const result = loadConfig(env);
  if (!result.ok) throw new Error("test config does not parse");
  return openApiDocument(documentedRoutes(createApp({ config: result.config })));
}

describe("OpenAPI document", () => {
  it("documents every route from the zod schemas that validate it", () => {
    const document = generatedDocument();
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths ?? {})).toEqual(expect.arrayContaining(["/health", "/health/ready"]));
    expect(Object.keys(document.components?.schemas ?? {})).toEqual(
      expect.arrayContaining(["Problem", "Health", "Ready"]),
    );
    // Hidden routes stay out: the admin API is for operators, not clients.
    expect(Object.keys(document.paths ?? {}).filter((path) => path.startsWith("/admin"))).toEqual([]);
  });

  // `npm run openapi` rewrites the file from the route definitions.
  it("is committed as docs/openapi.json, exactly what the route definitions generate", async () => {
    await expect(`${JSON.stringify(generatedDocument(), null, 2)}\n`).toMatchFileSnapshot("../docs/openapi.json");
  });

  it("is served at /openapi.json as the committed file, without a generator in the worker", async () => {
    const response = await fetchWorker("/openapi.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("x-request-id")).toBeTruthy();
    expect(await response.json()).toEqual(JSON.parse(JSON.stringify(generatedDocument())));
  });
});
