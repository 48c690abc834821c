import { describe, expect, it } from "vitest";
import { fetchWorker } from "./support/app.ts";

describe("OpenAPI document", () => {
  it("documents every route from the zod schemas that validate it", async () => {
    const response = await fetchWorker("/openapi.json");
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/health", "/health/ready"]));
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(["Problem", "Health", "Ready"]));
  });

  it("matches the committed docs/openapi.json that CI lints with Redocly", async () => {
    const document = await (await fetchWorker("/openapi.json")).json();
    await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot("../docs/openapi.json");
  });
});
