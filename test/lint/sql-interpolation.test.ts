import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/lib/migrate.ts";

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith(".ts") ? [full] : [];
  });
}

/** SQL text handed to the driver must be a constant: values go in as bind parameters. */
const INTERPOLATED_SQL = [
  /\.query(?:<[^>]*>)?\(\s*`[^`]*\$\{/, // query(`... ${value} ...`)
  /\.query(?:<[^>]*>)?\(\s*(["'`])[^"'`]*\1\s*\+/, // query("..." + value)
  /\.query(?:<[^>]*>)?\(\s*[A-Za-z_$][\w$]*\s*\+/, // query(text + value)
  /\btext:\s*`[^`]*\$\{/, // { text: `... ${value} ...` } (a Query of src/db/client.ts)
  /\btext:\s*(["'`])[^"'`]*\1\s*\+/, // { text: "..." + value }
];

export function findInterpolatedSql(source: string): string[] {
  return source
    .split("\n")
    .map((line, index) => ({ line, number: index + 1 }))
    .filter(({ line }) => INTERPOLATED_SQL.some((pattern) => pattern.test(line)))
    .map(({ line, number }) => `${number}: ${line.trim()}`);
}

describe("SQL interpolation lint", () => {
  it("finds no SQL built by string interpolation in src/", () => {
    const offenders = sourceFiles(path.join(PROJECT_ROOT, "src")).flatMap((file) =>
      findInterpolatedSql(readFileSync(file, "utf8")).map((hit) => `${path.relative(PROJECT_ROOT, file)}:${hit}`),
    );
    expect(offenders).toEqual([]);
  });

  it("catches the forms it exists to catch, and passes parameterized queries", () => {
    expect(findInterpolatedSql("db.query(`select * from users where name = '${name}'`)")).toHaveLength(1);
    expect(findInterpolatedSql('db.query<{ id: string }>("select * from t where id = " + id)')).toHaveLength(1);
    expect(findInterpolatedSql("db.query(sql + where)")).toHaveLength(1);
    expect(findInterpolatedSql('db.query("select * from users where name = $1", [name])')).toEqual([]);
    expect(findInterpolatedSql("db.query(`select 1\n  from t where a = $1`, [a])")).toEqual([]);
    expect(findInterpolatedSql("text: `select * from streams where name = '${name}'`,")).toHaveLength(1);
    expect(findInterpolatedSql('text: "select * from streams where name = " + name,')).toHaveLength(1);
    expect(findInterpolatedSql('text: "select 1 from streams where name = $1", params: [name],')).toEqual([]);
  });
});
