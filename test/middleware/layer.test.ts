import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/env.ts";
import { AppError, onError } from "../../src/errors.ts";
import { type LayerParts, layer } from "../../src/middleware/layer.ts";

/** A middleware's parts that log what ran, in `trace`. */
function traced(
  trace: string[],
  name: string,
  before?: (c: Parameters<NonNullable<LayerParts["before"]>>[0]) => Response | undefined,
): LayerParts {
  return {
    before: (c) => {
      trace.push(`${name}:before`);
      return before?.(c);
    },
    after: (c) => {
      trace.push(`${name}:after ${c.res.status}`);
    },
  };
}

function app(parts: LayerParts[]) {
  const router = new Hono<AppEnv>();
  router.onError(onError);
  router.use(layer(...parts));
  router.get("/", (c) => c.text("route"));
  return router;
}

describe("layer", () => {
  it("runs the before parts in order, then the chain, then the after parts innermost first", async () => {
    const trace: string[] = [];
    const response = await app([traced(trace, "outer"), traced(trace, "inner")]).request("/");
    expect(await response.text()).toBe("route");
    expect(trace).toEqual(["outer:before", "inner:before", "inner:after 200", "outer:after 200"]);
  });

  it("answers with a before part's answer, without the chain or any after part", async () => {
    const trace: string[] = [];
    const response = await app([
      traced(trace, "outer"),
      traced(trace, "answering", (c) => c.text("answered", 308)),
      traced(trace, "inner"),
    ]).request("/");
    expect(response.status).toBe(308);
    expect(await response.text()).toBe("answered");
    expect(trace).toEqual(["outer:before", "answering:before"]);
  });

  it("leaves a before part's refusal to the error handler, as its own layer did", async () => {
    const trace: string[] = [];
    const response = await app([
      traced(trace, "refusing", () => {
        throw new AppError({ status: 400, code: "refused", title: "Refused" });
      }),
      traced(trace, "inner"),
    ]).request("/");
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe("refused");
    expect(trace).toEqual(["refusing:before"]);
  });
});
