import { describe, expect, it } from "vitest";
import { echoName } from "../src/errors.ts";
import { fetchWorker, readProblem } from "./support/app.ts";
import { TEST_API_KEYS } from "./support/constants.ts";

/** Far above any honest problem document, far below what the inputs below would echo. */
const MAX_PROBLEM_BYTES = 2048;

let ipCounter = 0;
function withKey(path: string): Promise<Response> {
  ipCounter++;
  return fetchWorker(path, {
    headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "CF-Connecting-IP": `10.70.0.${ipCounter}` },
  });
}

describe("problem echoes", () => {
  it("names the route template that answered as the instance", async () => {
    const response = await withKey("/metrics/overview?window=2h");
    expect(response.status).toBe(400);
    expect(await readProblem(response)).toMatchObject({ code: "validation-failed", instance: "/metrics/overview" });
  });

  it("names an unmatched request by a URN of its id, not by the path it asked for", async () => {
    const response = await fetchWorker("/x%3Cscript%3Ealert(1)%3C/script%3E");
    expect(response.status).toBe(404);
    const text = await response.text();
    const problem = JSON.parse(text) as Record<string, unknown>;
    expect(problem.instance).toBe(`urn:uuid:${response.headers.get("x-request-id")}`);
    expect(text).not.toMatch(/script|alert/i);
  });

  it("answers a 60,000-character path with a problem of fixed size", async () => {
    const response = await fetchWorker(`/${"a".repeat(60_000)}`);
    expect(response.status).toBe(404);
    const text = await response.text();
    expect(text.length).toBeLessThan(MAX_PROBLEM_BYTES);
    expect(text).not.toContain("aaaa");
  });

  it("echoes a huge unknown query key only as a bounded, escaped name", async () => {
    const key = `<img src=x onerror=alert(1)>${"k".repeat(100_000)}`;
    const response = await withKey(`/metrics/overview?${encodeURIComponent(key)}=1`);
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text.length).toBeLessThan(MAX_PROBLEM_BYTES);
    expect(text).not.toMatch(/<|>|onerror=|kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk/);
    const problem = JSON.parse(text) as { errors: { path: string; message: string }[] };
    expect(problem.errors).toEqual([{ path: `query.${echoName(key)}`, message: "Unrecognized key" }]);
    expect(problem.errors[0]!.path).toMatch(/^query\.%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.*…$/);
  });

  it("lists at most ten of thousands of unknown keys", async () => {
    const query = Array.from({ length: 3000 }, (_, index) => `unknown${index}=1`).join("&");
    const response = await withKey(`/metrics/overview?${query}`);
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text.length).toBeLessThan(MAX_PROBLEM_BYTES);
    const problem = JSON.parse(text) as { errors: unknown[] };
    expect(problem.errors).toHaveLength(10);
  });
});

describe("echoName", () => {
  it("keeps a plain field name as it is", () => {
    expect(echoName("window")).toBe("window");
    expect(echoName("top_streams-2")).toBe("top_streams-2");
  });

  it("percent-encodes markup, quotes, separators, control bytes and lone surrogates", () => {
    expect(echoName(`<a href="x">.'\u0000`)).toBe("%3Ca%20href%3D%22x%22%3E%2E%27%00");
    expect(echoName("\ud800")).toBe("%EF%BF%BD");
    expect(echoName("é")).toBe("%C3%A9");
  });

  it("cuts the escaped name at 64 characters and marks the cut", () => {
    expect(echoName("a".repeat(64))).toBe("a".repeat(64));
    expect(echoName("a".repeat(65))).toBe(`${"a".repeat(64)}…`);
    // An escape sequence is never split: the cut falls before it.
    expect(echoName(`${"a".repeat(62)}<`)).toBe(`${"a".repeat(62)}…`);
  });
});
