import { describe, expect, it } from "vitest";
import { fetchWorker } from "./support/app.ts";

describe("OpenAPI document", () => {
  it("documents every route from the zod schemas that validate it", async () => {
    const response = await fetchWorker("/openapi.json");
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/health", "/health/ready"]));
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(["Problem", "Health", "Ready"]));
  });

  it("matches the committed docs/openapi.json that CI lints with Redocly", async () => {
    const document = await (await fetchWorker("/openapi.json")).json();
    await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot("../docs/openapi.json");
  });

  it("matches the committed docs/openapi.json that CI lints with Redocly", async () => {
    const document = await (await fetchWorker("/openapi.json")).json();
    await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot("../docs/openapi.json");
  });

  it("serves a docs page whose scripts and styles all come from this origin, none inline", async () => {
    const response = await fetchWorker("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1]);
    expect(sources).toEqual(["/docs/favicon-32x32.png", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js"]);
    // Every <script> has a src and no body; there is no <style> and no style or on* attribute.
    expect(html.match(/<script\b[^>]*>[^<]+<\/script>/)).toBeNull();
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    const init = await (await fetchWorker("/docs/init.js")).text();
    expect(init).toContain('url: "/openapi.json"');
    expect(init).toContain("validatorUrl: null");
  });

  it("serves Swagger UI from the swagger-ui-dist package through the assets binding", async () => {
    const bundle = await fetchWorker("/docs/swagger-ui-bundle.js");
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toMatch(/javascript/);
    expect(await bundle.text()).toContain("SwaggerUIBundle");
    const css = await fetchWorker("/docs/swagger-ui.css");
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
  });

  it("exposes no other file of the package, such as its demo initializer", async () => {
    for (const file of ["swagger-initializer.js", "index.html", "package.json", "swagger-ui-bundle.js.map"]) {
      for (const path of [`/docs/${file}`, `/${file}`]) expect((await fetchWorker(path)).status).toBe(404);
    }
  });
});
