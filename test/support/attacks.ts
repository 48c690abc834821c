/**
 * Generated attacks: fast-check arbitraries for whole HTTP requests (route, method, headers, query,
 * body) and the invariants every answer must keep, whatever was sent. Each request carries a
 * marker, a short alphanumeric token built into every hostile string it holds, so an echo of any
 * part of the input can be found in the answer wherever it lands.
 */
import fc from "fast-check";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { TEST_API_KEYS } from "./constants.ts";

/** Every route, the docs files, and paths that match nothing. */
const KNOWN_PATHS = [
  "/health",
  "/health/ready",
  "/auth/login",
  "/auth/me",
  "/auth/session",
  "/auth/session/refresh",
  "/auth/logout",
  "/metrics/overview",
  "/metrics/timeseries",
  "/streams",
  "/openapi.json",
  "/docs",
  "/docs/init.js",
  "/docs/swagger-ui.css",
  "/",
  "/metrics",
  "/auth",
  "/admin/keys",
  "/admin/revocations",
  "/admin/keys/x",
  "/admin",
];
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
const QUERY_KEYS = [
  "window",
  "stream",
  "from",
  "to",
  "step",
  "name",
  "tenant",
  "debug",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
];
const VALID_QUERY_VALUES = [
  "15m",
  "1h",
  "24h",
  "7d",
  "5m",
  "1m",
  "1d",
  "orders.created",
  "clickstream",
  "2026-11-29T00:00:00Z",
  "2026-11-29T12:00:00+00:00",
];
const ALLOWED_ORIGINS = ["https://app.streamforge.test", "http://localhost:5173"];
const HOSTILE_ORIGINS = [
  "https://app.streamforge.test.evil.net",
  "null",
  "http://localhost:5174",
  "https://APP.streamforge.test",
  "https://app.streamforge.test/",
];
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/problem+json",
  "application/json;;",
  "",
];
const INJECTIONS = [
  "' OR 1=1 --",
  "'; DROP TABLE metric_buckets; --",
  '" OR ""="',
  "$1",
  "1h) OR (1=1",
  "x'::text); select pg_sleep(5); --",
  "<script>alert(1)</script>",
  '"><img src=x onerror=alert(1)>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as text.
  "${7*7}{{7*7}}",
  "../../etc/passwd",
  "%00%0d%0a",
  "\u0000\u0001\u001f\u007f",
  "\u202e\ufeff\u200b",
  "\ud800",
];

export interface Credentials {
  validToken: string;
  expiredToken: string;
  foreignToken: string;
  /** Signed `sfk3` keys: under the current and the previous secret, a retired one, one with its MAC altered. */
  signedKeys: Record<SignedKeyKind, string>;
  /** Current dashboard sessions: the cookie value and its CSRF token. */
  sessions: readonly { cookie: string; csrfToken: string }[];
  adminSecret: string;
  /** Other secrets of the deployment, presented where the admin credential goes. */
  otherSecrets: readonly string[];
}

export const SIGNED_KEY_KINDS = [
  "signed",
  "signed-previous",
  "signed-limited",
  "signed-retired",
  "signed-tampered",
] as const;
type SignedKeyKind = (typeof SIGNED_KEY_KINDS)[number];
/** How many sessions the campaign holds; a logout or refresh it sends revokes one of them. */
export const SESSIONS = 8;

/** The parts of one request; `build` turns them into a Request, threading the marker through. */
export interface RequestShape {
  host: string;
  path: PathShape;
  method: string;
  query: QueryShape;
  headers: HeaderShape[];
  body: BodyShape;
  clientIp: number;
}

type Hostile = { before: string; after: string; repeat: number };
type PathShape =
  | { kind: "known"; path: string; suffix: "" | "/" | "//" | "/x" }
  | { kind: "hostile"; prefix: string; segment: Hostile };
type QueryShape = { kind: "pairs"; pairs: [KeyShape, ValueShape][] } | { kind: "raw"; text: string };
type KeyShape = { kind: "known"; key: string } | { kind: "hostile"; text: Hostile };
type ValueShape = { kind: "valid"; value: string } | { kind: "hostile"; text: Hostile };
type HeaderShape =
  | {
      name: "authorization";
      value:
        | "valid-token"
        | "expired-token"
        | "foreign-token"
        | "alg-none"
        | "basic"
        | "empty-bearer"
        | { hostile: Hostile };
    }
  | { name: "x-api-key"; value: "acme" | "limited" | "wrong-secret" | SignedKeyKind | { hostile: Hostile } }
  | { name: "x-admin-key"; value: "valid" | "wrong" | "other-secret" | { hostile: Hostile } }
  | { name: "session"; value: { index: number; csrf: "valid" | "missing" | "other-session" } }
  | { name: "origin"; value: string }
  | { name: "content-type"; value: string }
  | { name: "access-control-request-method"; value: string }
  | { name: "x-forwarded-for" | "x-request-id" | "accept" | "x-real-ip" | "cookie" | "x-csrf-token"; value: Hostile };
type BodyShape =
  | { kind: "none" }
  | { kind: "login"; username: string; password: Hostile | "demo" }
  | { kind: "json"; value: unknown }
  | { kind: "text"; text: Hostile }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "deep"; depth: number }
  | { kind: "huge"; size: number }
  | { kind: "admin"; request: "issue" | "revoke-key" | "revoke-user" | "revoke-tenant-tokens" };

/** Free text of any kind: graphemes, raw UTF-16 (lone surrogates too), control bytes, injections. */
const freeText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom(...INJECTIONS),
);

/** Mostly short, sometimes repeated 100 or 2,000 times: huge inputs without huge generation cost. */
const hostile: fc.Arbitrary<Hostile> = fc.record({
  before: freeText,
  after: freeText,
  repeat: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(100, 2_000) }),
});

/** Printable ASCII only: what a header value may hold (anything else makes the Request invalid). */
const headerSafe = (text: string) => text.replace(/[^\x20-\x7e]/g, "?");

const utf8 = new TextEncoder();
const UNRESERVED = /[A-Za-z0-9._~-]/;

/** A path segment for any text: encodeURIComponent throws on lone surrogates, TextEncoder replaces them. */
function pathSegment(text: string): string {
  return Array.from(utf8.encode(text), (byte) => {
    const char = String.fromCharCode(byte);
    return UNRESERVED.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }).join("");
}

export function hostileText(shape: Hostile, marker: string): string {
  return `${shape.before}${marker}${shape.after}`.repeat(shape.repeat);
}

const pathShape: fc.Arbitrary<PathShape> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("known" as const),
      path: fc.constantFrom(...KNOWN_PATHS),
      suffix: fc.oneof(
        { weight: 6, arbitrary: fc.constant("" as const) },
        { weight: 1, arbitrary: fc.constantFrom("/" as const, "//" as const, "/x" as const) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("hostile" as const),
      prefix: fc.constantFrom("", "/metrics", "/auth", "/docs", "/health"),
      segment: hostile,
    }),
  },
);

const keyShape: fc.Arbitrary<KeyShape> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("known" as const), key: fc.constantFrom(...QUERY_KEYS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hostile" as const), text: hostile }) },
);
const valueShape: fc.Arbitrary<ValueShape> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("valid" as const), value: fc.constantFrom(...VALID_QUERY_VALUES) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hostile" as const), text: hostile }) },
);
const queryShape: fc.Arbitrary<QueryShape> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("pairs" as const),
      pairs: fc.array(fc.tuple(keyShape, valueShape), { maxLength: 5 }),
    }),
  },
  // Unencoded text: bad escapes, bare separators, duplicate keys as the client typed them.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("raw" as const),
      text: fc.constantFrom(
        "%zz",
        "a=%E0%A4%A",
        "&&==&",
        "window=1h&window=7d",
        "window",
        "%00=%00",
        "=x",
        "a[b]=c&a[]=d",
      ),
    }),
  },
);

const ADMIN_KEY_KINDS = ["valid", "wrong", "other-secret"] as const;
const ADMIN_REQUESTS = ["issue", "revoke-key", "revoke-user", "revoke-tenant-tokens"] as const;
const NO_QUERY = fc.constant<QueryShape>({ kind: "pairs", pairs: [] });

const sessionChoice = fc.record({
  index: fc.nat(SESSIONS - 1),
  csrf: fc.constantFrom("valid" as const, "missing" as const, "other-session" as const),
});

const headerShape: fc.Arbitrary<HeaderShape> = fc.oneof(
  fc.record({
    name: fc.constant("authorization" as const),
    value: fc.oneof(
      fc.constantFrom(
        "valid-token" as const,
        "expired-token" as const,
        "foreign-token" as const,
        "alg-none" as const,
        "basic" as const,
        "empty-bearer" as const,
      ),
      fc.record({ hostile }),
    ),
  }),
  fc.record({
    name: fc.constant("x-api-key" as const),
    value: fc.oneof(
      fc.constantFrom("acme" as const, "limited" as const, "wrong-secret" as const, ...SIGNED_KEY_KINDS),
      fc.record({ hostile }),
    ),
  }),
  fc.record({
    name: fc.constant("x-admin-key" as const),
    value: fc.oneof(fc.constantFrom(...ADMIN_KEY_KINDS), fc.record({ hostile })),
  }),
  fc.record({ name: fc.constant("session" as const), value: sessionChoice }),
  fc.record({ name: fc.constant("origin" as const), value: fc.constantFrom(...ALLOWED_ORIGINS, ...HOSTILE_ORIGINS) }),
  fc.record({ name: fc.constant("content-type" as const), value: fc.constantFrom(...CONTENT_TYPES) }),
  fc.record({
    name: fc.constant("access-control-request-method" as const),
    value: fc.constantFrom("GET", "POST", "DELETE", "PUT"),
  }),
  fc.record({
    name: fc.constantFrom(
      "x-forwarded-for" as const,
      "x-request-id" as const,
      "accept" as const,
      "x-real-ip" as const,
      "cookie" as const,
      "x-csrf-token" as const,
    ),
    value: hostile,
  }),
);

/** JSON with prototype keys, wrong types and nesting; keys and strings are hostile. */
const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -1, 1e308, "", "acme_analyst"),
    fc.integer(),
    fc.double(),
    freeText,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom("username", "password", "__proto__", "constructor", "prototype", "role", "tenant"),
        freeText,
      ),
      tie("value"),
      { maxKeys: 4 },
    ),
  ),
})).value;

const bodyShape: fc.Arbitrary<BodyShape> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "none" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("login" as const),
      username: fc.constantFrom("acme_analyst", "globex_analyst", "no_such_user", "ab", "a".repeat(51), "acme analyst"),
      password: fc.oneof(fc.constant("demo" as const), hostile),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("json" as const), value: jsonValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("text" as const), text: hostile }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 64 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("deep" as const), depth: fc.constantFrom(100, 5_000, 100_000) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("huge" as const), size: fc.constantFrom(4_097, 70_000, 1_100_000) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("admin" as const),
      request: fc.constantFrom(...ADMIN_REQUESTS),
    }),
  },
);

const anyRequestShape: fc.Arbitrary<RequestShape> = fc.record({
  host: fc.oneof(
    { weight: 12, arbitrary: fc.constant("localhost") },
    { weight: 1, arbitrary: fc.constantFrom("evil.example", "localhost.evil.net", "127.0.0.1") },
  ),
  path: pathShape,
  // Mostly the methods the routes take, so requests get past the 405 to the handlers.
  method: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("GET", "POST") },
    { weight: 2, arbitrary: fc.constantFrom(...METHODS) },
  ),
  query: queryShape,
  headers: fc.uniqueArray(headerShape, { maxLength: 5, selector: (header) => header.name }),
  body: bodyShape,
  // A small pool, so limiter leases are reused and some clients reach their 429.
  clientIp: fc.nat(63),
});

const knownPath = (...paths: string[]): fc.Arbitrary<PathShape> =>
  fc.record({ kind: fc.constant("known" as const), path: fc.constantFrom(...paths), suffix: fc.constant("" as const) });
/** Mostly bodies of one kind, sometimes any other. */
const mostly = (kind: BodyShape["kind"]) =>
  fc.oneof(
    { weight: 3, arbitrary: bodyShape.filter((body) => body.kind === kind) },
    { weight: 1, arbitrary: bodyShape },
  );
const ADMIN: HeaderShape = { name: "x-admin-key", value: "valid" };

/**
 * An operator's request: the admin credential alone, on an admin route, with an admin body or any
 * other. Generated at random, the credential, the route and a well-formed body rarely meet, and the
 * handlers behind the credential would go untested.
 */
const adminRequestShape: fc.Arbitrary<RequestShape> = fc.record({
  host: fc.constant("localhost"),
  path: knownPath("/admin/keys", "/admin/revocations"),
  method: fc.constantFrom("GET", "POST"),
  query: queryShape,
  headers: fc
    .option(headerShape, { nil: undefined })
    .map((extra): HeaderShape[] => [ADMIN, ...(extra === undefined || extra.name === "x-admin-key" ? [] : [extra])]),
  body: mostly("admin"),
  clientIp: fc.nat(63),
});

/** A sign-in as a script or the dashboard sends it: a login body right or wrong, hostile, 1 MB or 100,000 deep. */
const signInRequestShape: fc.Arbitrary<RequestShape> = fc.record({
  host: fc.constant("localhost"),
  path: knownPath("/auth/login", "/auth/session"),
  method: fc.constant("POST"),
  query: NO_QUERY,
  headers: fc.uniqueArray(headerShape, { maxLength: 1, selector: (header) => header.name }),
  body: mostly("login"),
  clientIp: fc.nat(63),
});

/** A read with one signed key or one session, on a route that checks it, with or without a hostile query. */
const readRequestShape: fc.Arbitrary<RequestShape> = fc.record({
  host: fc.constant("localhost"),
  path: knownPath("/auth/me", "/metrics/overview", "/streams"),
  method: fc.constant("GET"),
  query: fc.oneof({ weight: 3, arbitrary: NO_QUERY }, { weight: 1, arbitrary: queryShape }),
  headers: fc
    .oneof(
      fc.record({ name: fc.constant("x-api-key" as const), value: fc.constantFrom(...SIGNED_KEY_KINDS) }),
      fc.record({ name: fc.constant("session" as const), value: sessionChoice }),
    )
    .map((credential): HeaderShape[] => [credential]),
  body: fc.constant({ kind: "none" as const }),
  clientIp: fc.nat(63),
});

export const requestShape: fc.Arbitrary<RequestShape> = fc.oneof(
  { weight: 17, arbitrary: anyRequestShape },
  { weight: 1, arbitrary: adminRequestShape },
  { weight: 1, arbitrary: signInRequestShape },
  { weight: 1, arbitrary: readRequestShape },
);

function authorizationValue(
  value: Extract<HeaderShape, { name: "authorization" }>["value"],
  credentials: Credentials,
  marker: string,
): string {
  if (typeof value === "object") return headerSafe(`Bearer ${hostileText(value.hostile, marker)}`);
  switch (value) {
    case "valid-token":
      return `Bearer ${credentials.validToken}`;
    case "expired-token":
      return `Bearer ${credentials.expiredToken}`;
    case "foreign-token":
      return `Bearer ${credentials.foreignToken}`;
    case "alg-none":
      return `Bearer ${btoa('{"alg":"none","typ":"JWT"}').replace(/=+$/, "")}.${btoa('{"sub":"acme_analyst","tenant":"globex"}').replace(/=+$/, "")}.`;
    case "basic":
      return `Basic ${btoa(`acme_analyst:${DEMO_PASSWORD}`)}`;
    case "empty-bearer":
      return "Bearer ";
  }
}

type ValueOf<Name extends HeaderShape["name"]> = Extract<HeaderShape, { name: Name }>["value"];

function apiKeyValue(value: ValueOf<"x-api-key">, credentials: Credentials, marker: string): string {
  if (typeof value === "object") return headerSafe(hostileText(value.hostile, marker));
  switch (value) {
    case "acme":
      return TEST_API_KEYS.acmeCurrent.key;
    case "limited":
      return TEST_API_KEYS.globexLimited.key;
    case "wrong-secret":
      return `${TEST_API_KEYS.acmeCurrent.key.slice(0, -4)}AAAA`;
    default:
      return credentials.signedKeys[value];
  }
}

function adminKeyValue(value: ValueOf<"x-admin-key">, credentials: Credentials, marker: string): string {
  if (typeof value === "object") return headerSafe(hostileText(value.hostile, marker));
  switch (value) {
    case "valid":
      return credentials.adminSecret;
    case "wrong":
      return `${credentials.adminSecret.slice(0, -1)}${credentials.adminSecret.endsWith("x") ? "y" : "x"}`;
    case "other-secret":
      return credentials.otherSecrets[marker.charCodeAt(marker.length - 2) % credentials.otherSecrets.length]!;
  }
}

/**
 * Names for what an admin request creates: derived from the marker but not containing it, so the
 * 201 that names them is not an echo, while each run still makes a new one.
 */
const adminSubject = (marker: string) => [...marker].reverse().join("");

function bodyOf(shape: BodyShape, marker: string): BodyInit | undefined {
  switch (shape.kind) {
    case "none":
      return undefined;
    case "login":
      return JSON.stringify({
        username: shape.username,
        password: shape.password === "demo" ? DEMO_PASSWORD : hostileText(shape.password, marker),
      });
    case "json":
      return JSON.stringify(shape.value);
    case "text":
      return hostileText(shape.text, marker);
    case "bytes":
      return shape.bytes;
    case "deep":
      return `${"[".repeat(shape.depth)}"${marker}"${"]".repeat(shape.depth)}`;
    case "huge":
      return JSON.stringify({ username: "acme_analyst", password: `${marker}${"p".repeat(shape.size)}` });
    case "admin": {
      // Subjects only the campaign uses: its own credentials stay valid for the rest of the run.
      const subject = adminSubject(marker);
      if (shape.request === "issue") return JSON.stringify({ id: subject, tenant: "acme", scopes: ["metrics:read"] });
      if (shape.request === "revoke-key") return JSON.stringify({ kind: "key", subject });
      if (shape.request === "revoke-user") return JSON.stringify({ kind: "user", subject: `u_${subject}` });
      return JSON.stringify({ kind: "tenant-tokens", subject });
    }
  }
}

const JSON_BODIES = new Set<BodyShape["kind"]>(["login", "json", "deep", "huge", "admin"]);

/** The Request a shape describes, with `marker` in every hostile part of it. */
export function build(shape: RequestShape, marker: string, credentials: Credentials): Request {
  const path =
    shape.path.kind === "known"
      ? `${shape.path.path}${shape.path.suffix}`
      : `${shape.path.prefix}/${pathSegment(hostileText(shape.path.segment, marker))}`;
  let query = "";
  if (shape.query.kind === "raw") {
    query = `${shape.query.text}&${marker}`;
  } else if (shape.query.pairs.length > 0) {
    const params = new URLSearchParams();
    for (const [key, value] of shape.query.pairs) {
      params.append(
        key.kind === "known" ? key.key : hostileText(key.text, marker),
        value.kind === "valid" ? value.value : hostileText(value.text, marker),
      );
    }
    query = params.toString();
  }
  // One address in each of 64 /24s: the per-network bound on invalid credentials (50 a minute per
  // /24) would otherwise answer most of the campaign with 429 before its credentials are checked.
  const headers = new Headers({ "CF-Connecting-IP": `10.250.${shape.clientIp}.1` });
  // JSON bodies are labelled as such unless the shape sends another type: a body the routes would
  // refuse with 415 before parsing it tests nothing about the parser, the schemas or the password check.
  if (JSON_BODIES.has(shape.body.kind)) headers.set("content-type", "application/json");
  for (const header of shape.headers) {
    if (header.name === "authorization")
      headers.set(header.name, authorizationValue(header.value, credentials, marker));
    else if (header.name === "x-api-key") headers.set(header.name, apiKeyValue(header.value, credentials, marker));
    else if (header.name === "x-admin-key") headers.set(header.name, adminKeyValue(header.value, credentials, marker));
    else if (header.name === "session") {
      const { index, csrf } = header.value;
      const session = credentials.sessions[index]!;
      headers.set("cookie", `__Host-sf-session=${session.cookie}`);
      const csrfOf = csrf === "valid" ? session : credentials.sessions[(index + 1) % SESSIONS]!;
      if (csrf !== "missing") headers.set("x-csrf-token", csrfOf.csrfToken);
    } else if (typeof header.value === "string") headers.set(header.name, header.value);
    // A hostile session cookie, so the value reaches the session's verification.
    else if (header.name === "cookie")
      headers.set(header.name, `__Host-sf-session=${headerSafe(hostileText(header.value, marker))}`);
    else headers.set(header.name, headerSafe(hostileText(header.value, marker)));
  }
  const canHaveBody = shape.method !== "GET" && shape.method !== "HEAD";
  const body = canHaveBody ? bodyOf(shape.body, marker) : undefined;
  return new Request(`http://${shape.host}${path}${query === "" ? "" : `?${query}`}`, {
    method: shape.method,
    headers,
    body,
  });
}
