import { describe, expect, it } from "vitest";
import { fetchWorker, requestWith } from "../support/app.ts";

describe("API docs", () => {
  it("serves a docs page whose scripts and styles all come from this origin, none inline", async () => {
    const response = await fetchWorker("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1]);
    expect(sources).toEqual([
      "/docs/favicon-32x32.png",
      "/docs/swagger-ui.css",
      "/docs/swagger-ui-bundle.js",
      "/docs/init.js",
    ]);
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

  it("is off, the OpenAPI document included, a plain 404 problem, where the assets binding is not deployed", async () => {
    for (const path of ["/docs", "/docs/init.js", "/docs/swagger-ui-bundle.js", "/openapi.json"]) {
      const response = await requestWith({ ASSETS: undefined }, path);
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
  });
});
