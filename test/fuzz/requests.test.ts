/**
 * Generated attacks on every route, method, header and body shape, through the worker's own fetch
 * handler inside workerd, against the real database. The handler is called directly rather than
 * through the SELF binding: the binding's hop cost ~25 ms a request here, 30× the request itself. Every answer must keep the invariants below; a
 * failure prints fast-check's counterexample and the seed that replays it
 * (`npm run fuzz -- --runs N --seed S`).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { issueToken } from "../../src/auth/tokens.ts";
import { worker } from "../../src/worker.ts";
import { build, requestShape, type Credentials } from "../support/attacks.ts";
import { TEST_API_KEYS, TEST_JWT_SIGNING_KEY, TEST_PEPPER } from "../support/constants.ts";
import { API_CSP } from "../support/security-headers.ts";

const fuzzEnv = env as { FUZZ_RUNS?: string; FUZZ_SEED?: string; DATABASE_URL: string; AUTH_DATABASE_URL: string };
const RUNS = Number(fuzzEnv.FUZZ_RUNS || 10_000);
const SEED = fuzzEnv.FUZZ_SEED ? Number(fuzzEnv.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

const TOKENS = { signingKey: TEST_JWT_SIGNING_KEY, issuer: "https://api.streamforge.example", audience: "streamforge-api", ttlSeconds: 900 };
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const DOCS_ASSETS = new Set(["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/favicon-32x32.png"]);
const FIXED_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "x-xss-protection": "0",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** Taken before the console is captured, so the seed and the tally reach the test output. */
const print = console.log.bind(console);

const STACK = /\bat\s+\S+\s+\(|\.(?:ts|js):\d+:\d+/;
const SQL_TEXT = /\b(?:select|insert|update|delete)\b[^"]{0,200}\bfrom\b|syntax error|relation "|pg_catalog|set_config/i;
const DRIVER_TEXT = /ECONNREFUSED|Connection terminated|WebSocket|password authentication|postgres(?:ql)?:\/\//i;
/** An escaped echo: `query.<name>` with each segment in echoName's alphabet and at most 64 chars (+ `…`). */
const ESCAPED_FIELD_PATH = /^[a-z]+(?:\.[A-Za-z0-9_%-]{0,64}…?)*$/;

function secrets(): string[] {
  const passwordOf = (url: string) => decodeURIComponent(new URL(url).password);
  return [
    TEST_PEPPER,
    TEST_JWT_SIGNING_KEY,
    ...Object.values(TEST_API_KEYS).map((entry) => entry.key.split("_").at(-1)!),
    fuzzEnv.DATABASE_URL,
    fuzzEnv.AUTH_DATABASE_URL,
    passwordOf(fuzzEnv.DATABASE_URL),
    passwordOf(fuzzEnv.AUTH_DATABASE_URL),
  ].filter((secret) => secret.length >= 8);
}

/** Statuses each (path, method) declares in the served OpenAPI document. */
async function declaredStatuses(): Promise<Map<string, Set<number>>> {
  const document = (await (await exports.default.fetch(new Request("http://localhost/openapi.json"))).json()) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  };
  const declared = new Map<string, Set<number>>();
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      declared.set(`${method.toUpperCase()} ${path}`, new Set(Object.keys(operation.responses).map(Number)));
    }
  }
  return declared;
}

/** Where the marker appears beyond an escaped, bounded field name in `errors[].path`. */
function echoes(body: string, marker: string): string[] {
  if (!body.includes(marker)) return [];
  let problem: { errors?: { path: string }[] };
  try {
    problem = JSON.parse(body) as typeof problem;
  } catch {
    return ["input echoed in a non-JSON body"];
  }
  const found: string[] = [];
  for (const error of problem.errors ?? []) {
    if (error.path.includes(marker) && !ESCAPED_FIELD_PATH.test(error.path)) found.push(`unescaped or unbounded field name: ${error.path.slice(0, 200)}`);
  }
  const rest = JSON.stringify({ ...problem, errors: (problem.errors ?? []).map((error) => ({ ...error, path: "" })) });
  if (rest.includes(marker)) found.push("input echoed outside errors[].path");
  return found;
}

function leaks(text: string, secretValues: readonly string[]): string[] {
  const found = secretValues.filter((secret) => text.includes(secret)).map(() => "a secret");
  if (STACK.test(text)) found.push("a stack trace");
  if (SQL_TEXT.test(text)) found.push("SQL text");
  if (DRIVER_TEXT.test(text)) found.push("driver text");
  return found;
}

function headerViolations(response: Response, pathname: string): string[] {
  const expected: Record<string, string> = {
    ...FIXED_HEADERS,
    "content-security-policy": pathname === "/docs" ? DOCS_CSP : API_CSP,
    // The package's public files keep the assets service's revalidating cache; all else is per caller.
    "cache-control": DOCS_ASSETS.has(pathname) && response.status === 200 ? "public, max-age=0, must-revalidate" : "no-store",
  };
  const found = Object.entries(expected)
    .filter(([name, value]) => response.headers.get(name) !== value)
    .map(([name, value]) => `header ${name} is ${JSON.stringify(response.headers.get(name))}, not ${JSON.stringify(value)}`);
  if (!/camera=\(\)/.test(response.headers.get("permissions-policy") ?? "")) found.push("no Permissions-Policy");
  if (!/^[0-9a-f-]{36}$/.test(response.headers.get("x-request-id") ?? "")) found.push("no server-generated request id");
  return found;
}

function problemViolations(response: Response, body: string, method: string): string[] {
  if (response.status < 400) return [];
  if (response.headers.get("content-type") !== "application/problem+json") return [`${response.status} is ${response.headers.get("content-type")}, not problem+json`];
  if (method === "HEAD") return body === "" ? [] : ["HEAD answered with a body"];
  const problem = JSON.parse(body) as Record<string, unknown>;
  const found: string[] = [];
  if (problem.status !== response.status) found.push("problem status differs from the HTTP status");
  for (const member of ["type", "title", "code", "instance", "request_id"]) if (typeof problem[member] !== "string") found.push(`problem has no ${member}`);
  if (problem.request_id !== response.headers.get("x-request-id")) found.push("problem request_id differs from X-Request-Id");
  const instance = String(problem.instance);
  if (!/^(?:\/[A-Za-z0-9/._-]*|urn:uuid:[0-9a-f-]{36})$/.test(instance)) found.push(`instance ${instance.slice(0, 100)} is neither a route template nor a request URN`);
  return found;
}

describe("generated attacks on the whole API", () => {
  const logLines: string[] = [];
  let credentials: Credentials;
  let declared: Map<string, Set<number>>;
  const secretValues = secrets();

  beforeAll(async () => {
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...parts: unknown[]) => void logLines.push(parts.map(String).join(" ")));
    }
    declared = await declaredStatuses();
    credentials = {
      validToken: await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS),
      expiredToken: await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS, Date.now() - 3_600_000),
      foreignToken: await issueToken({ sub: "acme_analyst", tenant: "acme" }, { ...TOKENS, signingKey: "another-signing-key-0123456789abcdef0123" }),
    };
  });

  afterAll(() => vi.restoreAllMocks());

  it(`keeps every invariant for ${RUNS} generated requests`, { timeout: 3_600_000 }, async () => {
    print(`fuzz: ${RUNS} requests, seed ${SEED} (replay: npm run fuzz -- --runs ${RUNS} --seed ${SEED})`);
    const statuses = new Map<number, number>();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(requestShape, async (shape) => {
        const marker = `fz${(run++).toString(36)}q`;
        const request = build(shape, marker, credentials);
        const { pathname } = new URL(request.url);
        const ctx = createExecutionContext();
        const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, env as Env, ctx);
        await waitOnExecutionContext(ctx);
        const body = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);

        const violations: string[] = [];
        if (response.status >= 500) {
          const allowed = declared.get(`${request.method === "HEAD" ? "GET" : request.method} ${pathname}`);
          if (response.status !== 503 || allowed?.has(503) !== true) violations.push(`undeclared ${response.status}`);
        }
        violations.push(...problemViolations(response, body, request.method));
        violations.push(...headerViolations(response, pathname));
        if (pathname !== "/docs/swagger-ui.css") violations.push(...leaks(body, secretValues).map((leak) => `body holds ${leak}`));
        violations.push(...echoes(body, marker));
        for (const [name, value] of response.headers) if (value.includes(marker)) violations.push(`header ${name} echoes input`);
        for (const line of logLines.splice(0)) {
          violations.push(...leaks(line, secretValues).map((leak) => `log line holds ${leak}: ${line.slice(0, 200)}`));
          if (line.includes(marker)) violations.push(`log line echoes input: ${line.slice(0, 200)}`);
        }
        if (violations.length > 0) throw new Error(`${request.method} ${request.url.slice(0, 300)} → ${response.status}: ${violations.join("; ")}`);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    print(`fuzz: statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect([...statuses.values()].reduce((sum, count) => sum + count, 0)).toBe(RUNS);
    // The campaign reached the handlers, not only the refusals in front of them.
    for (const status of [200, 400, 401, 404, 405, 429]) expect(statuses.get(status) ?? 0, `answers with ${status}`).toBeGreaterThan(0);
  });
});
