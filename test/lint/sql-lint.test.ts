import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/lib/migrate.ts";
import { findUnsafeSql } from "../../scripts/lib/sql-lint.ts";

const FIXTURES = path.join(PROJECT_ROOT, "test/lint/fixtures");

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith(".ts") ? [full] : [];
  });
}

/** Lines of a fixture whose call the lint must report: they end with `// unsafe`. */
function markedLines(source: string): number[] {
  return source.split("\n").flatMap((line, index) => (/\/\/ unsafe$/.test(line) ? [index + 1] : []));
}

function lintFixture(name: string) {
  const source = readFileSync(path.join(FIXTURES, name), "utf8");
  return { reported: findUnsafeSql(source, name).map((finding) => finding.line), expected: markedLines(source) };
}

describe("SQL lint", () => {
  it("finds no SQL text built from values anywhere in src/", () => {
    const offenders = sourceFiles(path.join(PROJECT_ROOT, "src")).flatMap((file) =>
      findUnsafeSql(readFileSync(file, "utf8"), file).map(
        (finding) => `${path.relative(PROJECT_ROOT, file)}:${finding.line}: ${finding.message}`,
      ),
    );
    expect(offenders).toEqual([]);
  });

  it("passes parameterized queries: literal text, multi-line text, config objects, Neon tagged templates, Hono's c.req.query", () => {
    expect(lintFixture("safe.ts")).toEqual({ reported: [], expected: [] });
  });

  const unsafeFixtures = ["interpolation.ts", "concatenation.ts", "non-literal.ts", "properties.ts"];
  it.each(unsafeFixtures)("reports every unsafe call in %s, and nothing else", (fixture) => {
    const { reported, expected } = lintFixture(fixture);
    expect(expected.length).toBeGreaterThan(4);
    expect(reported).toEqual(expected);
  });

  it("says what is wrong", () => {
    const messages = (source: string) => findUnsafeSql(source).map((finding) => finding.message);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text under test, not a template.
    expect(messages("db.query(`select ${a}`)")).toEqual([expect.stringContaining("interpolates")]);
    expect(messages('db.query("select " + a)')).toEqual([expect.stringContaining("concatenation")]);
    expect(messages("db.query(text)")).toEqual([expect.stringContaining("not a literal")]);
    expect(messages("sql.unsafe('select 1')")).toEqual([expect.stringContaining("raw SQL")]);
  });
});
