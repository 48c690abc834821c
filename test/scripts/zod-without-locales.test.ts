import { describe, expect, it } from "vitest";
import * as zod from "zod";
import * as lean from "../../scripts/build/zod-without-locales/index.js";

const sortedKeys = (namespace: object) => Object.keys(namespace).sort();

/** What the alias leaves out: the 40+ locales, the JSON Schema → zod converter and the schema compiler, which nothing calls. */
const COMPILER = ["INVALID", "compile", "withParser", "ZodCompileAsyncError", "ZodCompileUnsupportedError"];
const LEFT_OUT = new Set(["locales", "fromJSONSchema", ...COMPILER]);
const LEFT_OUT_OF_CORE = new Set(["locales", ...COMPILER, "compileFn"]);

describe("zod without locales (the bundle's alias for zod)", () => {
  it("exports everything zod exports except its locales, fromJSONSchema and the compiler, at the top level and in core", () => {
    expect(sortedKeys(lean)).toEqual(sortedKeys(zod).filter((key) => !LEFT_OUT.has(key)));
    expect(sortedKeys(lean.core)).toEqual(sortedKeys(zod.core).filter((key) => !LEFT_OUT_OF_CORE.has(key)));
    expect(sortedKeys(lean.z)).toEqual(sortedKeys(zod.z).filter((key) => !LEFT_OUT.has(key)));
  });

  it("re-exports zod's own modules, not copies: the same classes and the same global registry", () => {
    expect(lean.ZodType).toBe(zod.ZodType);
    expect(lean.core.$ZodType).toBe(zod.core.$ZodType);
    expect(lean.globalRegistry).toBe(zod.globalRegistry);
    expect(lean.z.string().safeParse(1).error?.issues[0]?.message).toBe(
      "Invalid input: expected string, received number",
    );
  });
});
