/**
 * Generated attacks on every route, method, header and body shape, through the worker's own fetch
 * handler inside workerd, against the real database. The handler is called directly rather than
 * through the SELF binding: the binding's hop cost ~25 ms a request here, 30× the request itself. Every answer must keep the invariants below; a
 * failure prints fast-check's counterexample and the seed that replays it
 * (`npm run fuzz -- --runs N --seed S`).
 *
 * The campaign runs on an app of its own whose sign-in limits are raised (FUZZ_LIMITS): with the
 * suite's, its 64 clients in one /24 would be refused before any login body is read. What it
 * reached is counted per route and asserted at the end, so a campaign refused in front of the
 * handlers fails instead of passing on 429s.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { signApiKey } from "../../src/auth/api-keys.ts";
import { keyChecksum } from "../../src/auth/key-checksum.ts";
import { sessionTokens } from "../../src/auth/session-token.ts";
import { issueToken } from "../../src/auth/tokens.ts";
import { sessionFamilies } from "../../src/keys/session-families.ts";
import { worker } from "../../src/worker.ts";
import { build, type Credentials, type RequestShape, requestShape, SESSIONS } from "../support/attacks.ts";
import {
  TEST_ADMIN_SECRET,
  TEST_API_KEYS,
  TEST_JWT_SIGNING_KEY,
  TEST_PEPPER,
  TEST_SIGNING_SECRETS,
  TEST_TENANT_SCOPE_KEY,
} from "../support/constants.ts";
import { API_CSP } from "../support/security-headers.ts";

const fuzzEnv = env as unknown as {
  FUZZ_RUNS?: string;
  FUZZ_SEED?: string;
  DATABASE_URL: string;
  AUTH_DATABASE_URL: string;
  LOCAL_SQL_SECRET: string;
};
const RUNS = Number(fuzzEnv.FUZZ_RUNS || 10_000);
const SEED = fuzzEnv.FUZZ_SEED ? Number(fuzzEnv.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

const TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};
/** Sign-in limits of the campaign's app: high enough that login and session bodies are parsed and checked. */
const FUZZ_LIMITS = {
  RATE_LIMIT_LOGIN_IP: "100000/minute",
  RATE_LIMIT_LOGIN_IPV4_24: "100000/minute",
  RATE_LIMIT_LOGIN_USERNAME: "100000/hour",
  RATE_LIMIT_LOGIN_DEVICE: "100000/hour",
};
const campaignEnv = { ...env, ...FUZZ_LIMITS } as Env;
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const STATIC_ASSETS = new Set([
  "/docs/swagger-ui.css",
  "/docs/swagger-ui-bundle.js",
  "/docs/favicon-32x32.png",
  "/openapi.json",
]);
const FIXED_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "x-xss-protection": "0",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** Routes whose answers are tallied, to show what the campaign reached. */
const ROUTES = new Set([
  "/auth/login",
  "/auth/session",
  "/auth/session/refresh",
  "/auth/logout",
  "/auth/me",
  "/metrics/overview",
  "/streams",
  "/admin/keys",
  "/admin/revocations",
]);

/** Where a client credential is checked; the admin credential is checked under /admin/. */
const AUTHENTICATED = /^\/(?:auth\/me|metrics\/[a-z]+|streams)$/;

/** The credentials whose answers are tallied where they are checked: signed keys, sessions, the admin credential. */
function credentialLabel(header: RequestShape["headers"][number], pathname: string): string | undefined {
  if (AUTHENTICATED.test(pathname)) {
    const value = header.name === "x-api-key" && typeof header.value === "string" ? header.value : undefined;
    if (value?.startsWith("signed")) return value;
    if (header.name === "session") return `session (csrf ${header.value.csrf})`;
  }
  const adminKey = pathname.startsWith("/admin/") && header.name === "x-admin-key" && typeof header.value === "string";
  return adminKey ? `admin key ${header.value as string}` : undefined;
}

/** Taken before the console is captured, so the seed and the tally reach the test output. */
const print = console.log.bind(console);

const STACK = /\bat\s+\S+\s+\(|\.(?:ts|js):\d+:\d+/;
const SQL_TEXT =
  /\b(?:select|insert|update|delete)\b[^"]{0,200}\bfrom\b|syntax error|relation "|pg_catalog|set_config/i;
const DRIVER_TEXT = /ECONNREFUSED|Connection terminated|WebSocket|password authentication|postgres(?:ql)?:\/\//i;
/** An escaped echo: `query.<name>` with each segment in echoName's alphabet and at most 64 chars (+ `…`). */
const ESCAPED_FIELD_PATH = /^[a-z]+(?:\.[A-Za-z0-9_%-]{0,64}…?)*$/;

/** Every secret of the deployment, and the MACs of the signed keys the campaign presents. */
function secrets(credentials: Credentials): string[] {
  const passwordOf = (url: string) => decodeURIComponent(new URL(url).password);
  return [
    TEST_PEPPER,
    TEST_JWT_SIGNING_KEY,
    TEST_ADMIN_SECRET,
    TEST_TENANT_SCOPE_KEY,
    ...Object.values(TEST_SIGNING_SECRETS).map((entry) => entry.secret),
    fuzzEnv.LOCAL_SQL_SECRET,
    ...Object.values(TEST_API_KEYS).map((entry) => entry.key.split("_").at(-1)!),
    // The MAC: the 43 characters before `_<checksum>`.
    ...Object.values(credentials.signedKeys).map((key) => key.slice(-50, -7)),
    fuzzEnv.DATABASE_URL,
    fuzzEnv.AUTH_DATABASE_URL,
    passwordOf(fuzzEnv.DATABASE_URL),
    passwordOf(fuzzEnv.AUTH_DATABASE_URL),
  ].filter((secret) => secret.length >= 8);
}

/** Signed keys of the acme tenant, issued now: the registry need not know them to verify them. */
async function signedKeys(): Promise<Credentials["signedKeys"]> {
  const nowSeconds = Math.floor(Date.now() / 1000);
  const claims = { id: "fuzz-signed", tenant: "acme", scopes: ["metrics:read" as const] };
  const current = await signApiKey(claims, nowSeconds, TEST_SIGNING_SECRETS.current);
  // One MAC character changed and the checksum made to match: only the MAC can refuse it.
  const body = current.slice(0, -7);
  const tamperedBody = `${body.slice(0, -1)}${body.at(-1) === "A" ? "B" : "A"}`;
  return {
    signed: current,
    "signed-previous": await signApiKey({ ...claims, id: "fuzz-old" }, nowSeconds, TEST_SIGNING_SECRETS.previous),
    "signed-limited": await signApiKey(
      { ...claims, id: "fuzz-signed-rl", rateLimit: "5/minute" },
      nowSeconds,
      TEST_SIGNING_SECRETS.current,
    ),
    "signed-retired": await signApiKey({ ...claims, id: "fuzz-signed-gone" }, nowSeconds, TEST_SIGNING_SECRETS.retired),
    "signed-tampered": `${tamperedBody}_${keyChecksum(tamperedBody)}`,
  };
}

/**
 * Dashboard sessions made as POST /auth/session makes them, with the app's own settings: each a
 * family recorded in its user's SessionFamilies object, without which the session is refused.
 */
async function sessions(): Promise<Credentials["sessions"]> {
  const maxLifetimeSeconds = 43_200;
  const settings = { signingKey: TEST_JWT_SIGNING_KEY, issuer: TOKENS.issuer, ttlSeconds: 3_600 };
  const tokens = sessionTokens({ ...settings, maxLifetimeSeconds });
  const owner = sessionFamilies(env.SESSION_FAMILIES, "acme_analyst");
  const made: { cookie: string; csrfToken: string }[] = [];
  for (let index = 0; index < SESSIONS; index++) {
    const nowMs = Date.now();
    const { token, session } = await tokens.issue({ subject: "acme_analyst", tenant: "acme", role: "analyst" }, nowMs);
    const endsAtSeconds = session.authTimeSeconds + maxLifetimeSeconds;
    const family = {
      id: session.familyId,
      tenant: session.tenant,
      authTimeSeconds: session.authTimeSeconds,
      endsAtSeconds,
    };
    await owner.start(family, Math.floor(nowMs / 1000));
    made.push({ cookie: token, csrfToken: await tokens.csrfToken(session.id) });
  }
  return made;
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

/**
 * An admin decision's audit line names what the operator acted on (a tenant, key id or user) once it
 * has passed its pattern: that is the audit trail, not an echo. Anything else in the line holding the
 * marker still counts.
 */
function namesAdminSubject(line: string, marker: string): boolean {
  try {
    const { event, action, subject, ...rest } = JSON.parse(line) as Record<string, unknown>;
    return (
      event === "audit" &&
      typeof action === "string" &&
      action.startsWith("admin.") &&
      typeof subject === "string" &&
      /^[A-Za-z0-9_-]{1,64}$/.test(subject) &&
      !JSON.stringify(rest).includes(marker)
    );
  } catch {
    return false;
  }
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
    if (error.path.includes(marker) && !ESCAPED_FIELD_PATH.test(error.path))
      found.push(`unescaped or unbounded field name: ${error.path.slice(0, 200)}`);
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
    // The static assets (Swagger UI's files, the OpenAPI document) are public and keep the assets
    // service's revalidating cache; all else is per caller.
    "cache-control":
      STATIC_ASSETS.has(pathname) && response.status === 200 ? "public, max-age=0, must-revalidate" : "no-store",
  };
  const found = Object.entries(expected)
    .filter(([name, value]) => response.headers.get(name) !== value)
    .map(
      ([name, value]) =>
        `header ${name} is ${JSON.stringify(response.headers.get(name))}, not ${JSON.stringify(value)}`,
    );
  if (!/camera=\(\)/.test(response.headers.get("permissions-policy") ?? "")) found.push("no Permissions-Policy");
  if (!/^[0-9a-f-]{36}$/.test(response.headers.get("x-request-id") ?? "")) found.push("no server-generated request id");
  return found;
}

function problemViolations(response: Response, body: string, method: string): string[] {
  if (response.status < 400) return [];
  if (response.headers.get("content-type") !== "application/problem+json")
    return [`${response.status} is ${response.headers.get("content-type")}, not problem+json`];
  if (method === "HEAD") return body === "" ? [] : ["HEAD answered with a body"];
  const problem = JSON.parse(body) as Record<string, unknown>;
  const found: string[] = [];
  if (problem.status !== response.status) found.push("problem status differs from the HTTP status");
  for (const member of ["type", "title", "code", "instance", "request_id"])
    if (typeof problem[member] !== "string") found.push(`problem has no ${member}`);
  if (problem.request_id !== response.headers.get("x-request-id"))
    found.push("problem request_id differs from X-Request-Id");
  const instance = String(problem.instance);
  if (!/^(?:\/[A-Za-z0-9/._-]*|urn:uuid:[0-9a-f-]{36})$/.test(instance))
    found.push(`instance ${instance.slice(0, 100)} is neither a route template nor a request URN`);
  return found;
}

describe("generated attacks on the whole API", () => {
  const logLines: string[] = [];
  let credentials: Credentials;
  let declared: Map<string, Set<number>>;
  let secretValues: string[];

  beforeAll(async () => {
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation(
        (...parts: unknown[]) => void logLines.push(parts.map(String).join(" ")),
      );
    }
    declared = await declaredStatuses();
    credentials = {
      validToken: await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS),
      expiredToken: await issueToken({ sub: "acme_analyst", tenant: "acme" }, TOKENS, Date.now() - 3_600_000),
      foreignToken: await issueToken(
        { sub: "acme_analyst", tenant: "acme" },
        { ...TOKENS, signingKey: "another-signing-key-0123456789abcdef0123" },
      ),
      signedKeys: await signedKeys(),
      sessions: await sessions(),
      adminSecret: TEST_ADMIN_SECRET,
      otherSecrets: [
        TEST_TENANT_SCOPE_KEY,
        TEST_SIGNING_SECRETS.current.secret,
        TEST_JWT_SIGNING_KEY,
        TEST_PEPPER,
        fuzzEnv.LOCAL_SQL_SECRET,
      ],
    };
    secretValues = secrets(credentials);
  });

  afterAll(() => vi.restoreAllMocks());

  it(`keeps every invariant for ${RUNS} generated requests`, { timeout: 3_600_000 }, async () => {
    print(`fuzz: ${RUNS} requests, seed ${SEED} (replay: npm run fuzz -- --runs ${RUNS} --seed ${SEED})`);
    const statuses = new Map<number, number>();
    /** `METHOD /path status` → count, for what the campaign reached. */
    const reached = new Map<string, number>();
    const count = (key: string) => reached.set(key, (reached.get(key) ?? 0) + 1);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(requestShape, async (shape) => {
        const marker = `fz${(run++).toString(36)}q`;
        const request = build(shape, marker, credentials);
        const { pathname } = new URL(request.url);
        const ctx = createExecutionContext();
        let response: Response;
        try {
          response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, campaignEnv, ctx);
        } catch (error) {
          // What escapes the handler is answered by the runtime's plain 500, outside every invariant.
          const reason = error instanceof Error ? error.message : String(error);
          throw new Error(`${request.method} ${request.url.slice(0, 300)} → plain runtime 500: ${reason}`);
        }
        await waitOnExecutionContext(ctx);
        const body = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        for (const header of shape.headers) {
          const label = credentialLabel(header, pathname);
          if (label !== undefined) count(`${label} ${response.status}`);
        }
        if (ROUTES.has(pathname)) count(`${request.method} ${pathname} ${response.status}`);

        const violations: string[] = [];
        const problemJson = response.headers.get("content-type") === "application/problem+json";
        if (response.status === 500 && !problemJson) violations.push("plain 500");
        if (response.status >= 500) {
          const allowed = declared.get(`${request.method === "HEAD" ? "GET" : request.method} ${pathname}`);
          // The admin routes are not in the document; their limiter fails closed when its object is
          // slow. Hono's "/admin/*" also matches "/admin" itself.
          const adminLimiter = /^\/admin(\/|$)/.test(pathname) && body.includes('"code":"rate-limiter-unavailable"');
          const declared503 = allowed?.has(503) === true || adminLimiter;
          if (response.status !== 503 || !declared503) violations.push(`undeclared ${response.status}`);
        }
        violations.push(...problemViolations(response, body, request.method));
        violations.push(...headerViolations(response, pathname));
        if (pathname !== "/docs/swagger-ui.css")
          violations.push(...leaks(body, secretValues).map((leak) => `body holds ${leak}`));
        violations.push(...echoes(body, marker));
        for (const [name, value] of response.headers) {
          if (value.includes(marker)) violations.push(`header ${name} echoes input`);
          // Set-Cookie carries the session a sign-in just made: a credential by design, but never a secret.
          const secretsInHeader = leaks(value, secretValues).filter((leak) => leak === "a secret");
          violations.push(...secretsInHeader.map(() => `header ${name} holds a secret`));
        }
        for (const line of logLines.splice(0)) {
          violations.push(...leaks(line, secretValues).map((leak) => `log line holds ${leak}: ${line.slice(0, 200)}`));
          if (line.includes(marker) && !namesAdminSubject(line, marker))
            violations.push(`log line echoes input: ${line.slice(0, 200)}`);
        }
        if (violations.length > 0)
          throw new Error(
            `${request.method} ${request.url.slice(0, 300)} → ${response.status}: ${violations.join("; ")}`,
          );
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    print(`fuzz: statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect([...statuses.values()].reduce((sum, count) => sum + count, 0)).toBe(RUNS);
    // The campaign reached the handlers, not only the refusals in front of them.
    for (const status of [200, 400, 401, 404, 405, 429])
      expect(statuses.get(status) ?? 0, `answers with ${status}`).toBeGreaterThan(0);
    print(`fuzz: reached ${JSON.stringify(Object.fromEntries([...reached].sort()))}`);
    // Bodies parsed and passwords checked (200, 401), refused as malformed (400) or too large (413).
    const reachedAny = (route: string) => [...reached].some(([key, count]) => key.startsWith(route) && count > 0);
    if (RUNS >= 10_000) {
      for (const route of [
        "POST /auth/login 200",
        "POST /auth/login 401",
        "POST /auth/login 400",
        "POST /auth/login 413",
        "POST /auth/session 200",
        "GET /auth/session 200",
        "GET /admin/keys 200",
        "GET /admin/keys 401",
        "POST /admin/keys 201",
        "POST /admin/keys 400",
        "POST /admin/revocations 201",
        "signed 200",
        "signed-previous 200",
        "signed-retired 403",
        "signed-tampered 403",
        "session (csrf valid) 200",
        "session (csrf missing) 403",
        "admin key valid 200",
        "admin key wrong 401",
        "admin key other-secret 401",
      ]) {
        expect(reachedAny(route), `reached ${route}`).toBe(true);
      }
    }
  });
});
