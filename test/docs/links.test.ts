/**
 * The documentation stands on its own: every relative link and image in README.md, BENCHMARKS.md
 * and docs/*.md names a file of this repository, every `#anchor` into a markdown file names one of
 * its headings (GitHub's slugs), nothing points outside the repository, and the README stays a
 * front door (at most 150 lines). Each failure lists every offending link with its file and line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const README_MAX_LINES = 150;

interface Link {
  /** Repository-relative path of the markdown file. */
  file: string;
  line: number;
  target: string;
}

/** The markdown files the check covers, repository-relative. */
function documentationFiles(root: string): string[] {
  const docs = readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", "BENCHMARKS.md", ...docs];
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): { line: number; text: string }[] {
  const lines: { line: number; text: string }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((content, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(content)?.[1];
    if (marker !== undefined) {
      if (fence === undefined) fence = marker[0]!;
      else if (marker[0] === fence) fence = undefined;
      return;
    }
    if (fence === undefined) lines.push({ line: index + 1, text: content });
  });
  return lines;
}

const withoutCodeSpans = (line: string) => line.replace(/(`+)[\s\S]*?\1/g, "");

/** Inline links and images (`[text](target "title")`, `![alt](<target>)`) and reference definitions. */
function extractLinks(file: string, text: string): Link[] {
  const links: Link[] = [];
  for (const { line, text: content } of proseLines(text)) {
    const prose = withoutCodeSpans(content);
    for (const match of prose.matchAll(
      /!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g,
    )) {
      links.push({ file, line, target: match[1]!.replace(/^<|>$/g, "") });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose);
    if (definition !== null) links.push({ file, line, target: definition[1]!.replace(/^<|>$/g, "") });
  }
  return links;
}

/** GitHub's heading anchor: lowercase, punctuation removed, each space a hyphen. */
function slug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link's text
    .replace(/`+/g, "")
    .replace(/<[^>]+>/g, "")
    .trim();
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor the file's headings produce, with GitHub's `-1`, `-2` for repeated headings. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const { text: content } of proseLines(text)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(content)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

const EXTERNAL = /^(https?:|mailto:)/i;
const ANY_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** What is wrong with one link, or undefined. `read` returns a repository file's text. */
function checkLink(root: string, link: Link, read: (file: string) => string): string | undefined {
  const where = `${link.file}:${link.line}: ${link.target}`;
  if (EXTERNAL.test(link.target)) return undefined;
  if (ANY_SCHEME.test(link.target)) return `${where}: not a link inside the repository`;
  const [rawPath = "", anchor] = link.target.split("#", 2);
  let targetPath: string;
  try {
    targetPath = decodeURIComponent(rawPath);
  } catch {
    return `${where}: not a valid URL path`;
  }
  if (targetPath.startsWith("/") || path.isAbsolute(targetPath))
    return `${where}: an absolute path, outside the repository`;
  if (targetPath === "") {
    if (anchor !== undefined && anchor !== "" && !anchors(read(link.file)).has(anchor.toLowerCase()))
      return `${where}: no heading "#${anchor}" in ${link.file}`;
    return undefined;
  }
  const resolved = path.resolve(root, path.dirname(link.file), targetPath);
  const relative = path.relative(root, resolved);
  if (relative.startsWith("..") || path.isAbsolute(relative)) return `${where}: leaves the repository`;
  if (/(^|\/)shared\//.test(targetPath)) return `${where}: points at shared/, outside the repository`;
  if (!existsSync(resolved)) return `${where}: ${relative} does not exist`;
  if (anchor !== undefined && anchor !== "" && relative.endsWith(".md") && statSync(resolved).isFile()) {
    if (!anchors(read(relative)).has(anchor.toLowerCase())) return `${where}: no heading "#${anchor}" in ${relative}`;
  }
  return undefined;
}

/** Paths in the text (code spans and blocks included) that leave the repository: `../` above the root, `shared/`. */
function escapingPaths(root: string, file: string, text: string): string[] {
  const problems: string[] = [];
  text.split("\n").forEach((content, index) => {
    const where = `${file}:${index + 1}`;
    for (const match of content.matchAll(/(?:\.\.\/)+[^\s)`'"<>\]]*/g)) {
      const relative = path.relative(root, path.resolve(root, path.dirname(file), match[0]));
      if (relative.startsWith("..")) problems.push(`${where}: ${match[0]} leaves the repository`);
    }
    for (const match of content.matchAll(/(?<![\w.-])shared\/[^\s)`'"<>\]]*/g)) {
      problems.push(`${where}: ${match[0]} is outside the repository`);
    }
  });
  return problems;
}

describe("the link checker", () => {
  const fixture = "# Guide\n\n## Your own `DATABASE_URL`\n\n## What to do when…\n\n## Notes\n\n## Notes\n";
  const read = (file: string) => (file === "docs/guide.md" ? fixture : readFileSync(path.join(ROOT, file), "utf8"));

  it("makes GitHub's anchors", () => {
    expect([...anchors(fixture)]).toEqual(["guide", "your-own-database_url", "what-to-do-when", "notes", "notes-1"]);
    expect(slug("Metrics overview: ~10 k against ~10 M buckets")).toBe("metrics-overview-10-k-against-10-m-buckets");
    expect(slug("`.dev.vars` and `npm run dev`")).toBe("devvars-and-npm-run-dev");
  });

  it("finds links and images outside code, with titles and angle brackets", () => {
    const text = 'See [a](a.md) and ![b](<b c.png> "title").\n`[not](x.md)`\n```\n[not](y.md)\n```\n[ref]: docs/z.md\n';
    expect(extractLinks("README.md", text).map((link) => [link.line, link.target])).toEqual([
      [1, "a.md"],
      [1, "b c.png"],
      [6, "docs/z.md"],
    ]);
  });

  it("refuses a missing file, a missing heading, an absolute path and a path above the root", () => {
    const check = (target: string, file = "README.md") => checkLink(ROOT, { file, line: 7, target }, read);
    expect(check("docs/no-such-page.md")).toBe(
      "README.md:7: docs/no-such-page.md: docs/no-such-page.md does not exist",
    );
    expect(check("BENCHMARKS.md#no-such-heading")).toMatch(/no heading "#no-such-heading" in BENCHMARKS.md/);
    expect(check("/etc/passwd")).toMatch(/absolute path/);
    expect(check("file:///etc/passwd")).toMatch(/not a link inside the repository/);
    expect(check("../shared/NEON-HTTP.md")).toMatch(/leaves the repository/);
    expect(check("../../README.md", "docs/api.md")).toMatch(/leaves the repository/);
    expect(check("#what-to-do-when", "docs/guide.md")).toBeUndefined();
    expect(check("#what-to-do", "docs/guide.md")).toMatch(/no heading "#what-to-do" in docs\/guide.md/);
    expect(check("https://hono.dev")).toBeUndefined();
    expect(check("../README.md#the-two-commands", "docs/api.md")).toBeUndefined();
    expect(escapingPaths(ROOT, "README.md", "read `../shared/NEON-HTTP.md` and shared/x")).toHaveLength(3);
    expect(escapingPaths(ROOT, "docs/api.md", "[b](../BENCHMARKS.md)")).toEqual([]);
  });
});

describe("README.md, BENCHMARKS.md and docs/*.md", () => {
  const files = documentationFiles(ROOT);
  const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");

  it("link only to files and headings that exist in the repository", () => {
    const broken = files.flatMap((file) =>
      extractLinks(file, read(file))
        .map((link) => checkLink(ROOT, link, read))
        .filter((problem): problem is string => problem !== undefined),
    );
    expect(broken, `broken links:\n  ${broken.join("\n  ")}\n`).toEqual([]);
  });

  it("name no path outside the repository", () => {
    const escaping = files.flatMap((file) => escapingPaths(ROOT, file, read(file)));
    expect(escaping, `paths outside the repository:\n  ${escaping.join("\n  ")}\n`).toEqual([]);
  });

  it(`keep README.md to at most ${README_MAX_LINES} lines`, () => {
    const lines = read("README.md").replace(/\n$/, "").split("\n").length;
    expect(lines, `README.md has ${lines} lines`).toBeLessThanOrEqual(README_MAX_LINES);
  });
});
