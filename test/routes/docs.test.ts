import { describe, expect, it } from "vitest";
import { fetchWorker, requestWith } from "../support/app.ts";

describe("API docs", () => {

  it("is off, a plain 404 problem, where the assets binding is not deployed", async () => {
    for (const path of ["/docs", "/docs/init.js", "/docs/swagger-ui-bundle.js"]) {
      const response = await requestWith({ ASSETS: undefined }, path);
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
  });
});
