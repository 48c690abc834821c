/** The key pattern scanners are given is the one the worker checks: the README and the key docs publish it verbatim. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SCANNABLE_KEY_PATTERN } from "../../src/auth/api-keys.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("published API key pattern", () => {
  it.each(["README.md", "docs/keys-and-sessions.md"])("%s shows the pattern the worker checks", (file) => {
    const fenced = readFileSync(path.join(ROOT, file), "utf8")
      .split("```")
      .filter((_, index) => index % 2 === 1)
      .map((block) => block.trim());
    expect(fenced).toContain(SCANNABLE_KEY_PATTERN);
  });
});
