/**
 * Worker instances the scenarios load: each is one bundle with its bindings, run in its own
 * Miniflare (so its own workerd process, whose CPU is measured alone). An instance is described
 * by data — which bundle, which vars and secrets, which Durable Object classes, which seeded
 * database (scripts/bench/databases.ts) — so adding one is one more entry here, plus whatever it
 * needs in BindingContext.
 */
import path from "node:path";
import { readJsonc } from "../lib/jsonc.ts";
import { PROJECT_ROOT } from "../lib/migrate.ts";
import { type BundleSpec, benchWorker, PROJECT_WORKER, projectVariant } from "./build.ts";
import type { BenchDatabaseName, DatabaseConnection } from "./databases.ts";
import { BENCH_SIGNING_SECRET, type SignedKeys } from "./keys.ts";

/** What bindings may depend on; known once the bench has chosen ports and made its API key. */
export interface BindingContext {
  /** Port the instance's worker answers on (its Host header is `127.0.0.1:<port>`). */
  port: number;
  /** The API key the bench presents; the worker holds only its digest. */
  apiKey: { id: string; key: string; sha256Hex: string };
  /** The seeded database of an instance that names one, as its roles and through the local SQL endpoint. */
  database?: DatabaseConnection;
  /** Signed keys the `keys` scenarios cycle through (scripts/bench/keys.ts), when they run. */
  signedKeys?: SignedKeys;
}

export interface InstanceSpec {
  name: string;
  bundle: BundleName;
  /** Vars and secrets, as strings, as `wrangler secret put` and `[vars]` would give them. */
  bindings(context: BindingContext): Record<string, string>;
  /** Binding name → Durable Object class exported by the bundle (SQLite-backed, as in wrangler.jsonc). */
  durableObjects?: Record<string, string>;
  /** A database the bench starts, seeds and hands over in `BindingContext.database` before the instance starts. */
  database?: BenchDatabaseName;
}

const LIMITER_VARIANTS = "scripts/bench/workers/limiter-variants.ts";

export const BUNDLES = {
  main: PROJECT_WORKER,
  bare: benchWorker("scripts/bench/workers/bare.ts"),
  builtins: benchWorker("scripts/bench/workers/builtins.ts"),
  verify: benchWorker("scripts/bench/workers/verify.ts"),
  refusal: benchWorker("scripts/bench/workers/refusal.ts"),
  // Attribution only: the project's worker with its limiter's storage, or its whole Durable Object call, taken out.
  mainLimiterWithoutStorage: projectVariant(
    (from) =>
      `export { default, KeyRegistry, SessionFamilies, TenantKeys, SignInTurns } from ${from("src/index.ts")};\nexport { RateLimiterWithoutStorage as RateLimiter } from ${from(LIMITER_VARIANTS)};\n`,
  ),
  mainInIsolateLimiter: projectVariant(
    (from) =>
      `import worker from ${from("src/index.ts")};\nimport { withInIsolateLimiter } from ${from(LIMITER_VARIANTS)};\n` +
      `export { KeyRegistry, RateLimiter, SessionFamilies, TenantKeys, SignInTurns } from ${from("src/index.ts")};\nexport default withInIsolateLimiter(worker);\n`,
  ),
  // For `--isolates`: the project's worker whose limiter objects count their calls.
  mainCountingLimiter: projectVariant(
    (from) =>
      `import worker from ${from("src/index.ts")};\nimport { withObjectCallCount } from ${from(LIMITER_VARIANTS)};\n` +
      `export { KeyRegistry, SessionFamilies, TenantKeys, SignInTurns } from ${from("src/index.ts")};\nexport { CountingRateLimiter as RateLimiter } from ${from(LIMITER_VARIANTS)};\nexport default withObjectCallCount(worker);\n`,
  ),
} satisfies Record<string, BundleSpec>;

export type BundleName = keyof typeof BUNDLES;

/** The origin the bench's requests come from, allowed by every instance so CORS does its work. */
export const BENCH_ORIGIN = "https://app.bench.test";

/** Instances without a database never reach it: port 1 refuses, so a stray query fails fast. */
const UNREACHABLE_DATABASE_URL = "postgres://bench:bench@127.0.0.1:1/bench?sslmode=disable";
const UNREACHABLE_SQL_ENDPOINT = "http://127.0.0.1:1/sql";
const UNUSED_SQL_SECRET = "bench-unused-sql-secret-0123456789abcdef";

/** The worker's pepper; the bench seeds its databases with it too, so the demo logins would verify. */
export const BENCH_PASSWORD_PEPPER = "bench-pepper-not-a-secret-0123456789abcdef";
export const BENCH_TENANT_SCOPE_KEY = "bench-tenant-scope-key-not-a-secret-0123456789";
/** The worker's token settings, so a load can hold bearer tokens without logging in for each. */
export const BENCH_TOKENS = {
  signingKey: "bench-jwt-signing-key-not-a-secret-0123456789",
  issuer: "https://api.bench.test",
  audience: "streamforge-api",
  ttlSeconds: 900,
} as const;

/** The tenant of the bench's API key: the one whose metrics the overview scenarios read. */
export const BENCH_TENANT = "acme";

/** High enough that no client of the pool is ever refused: every request goes to the Durable Object. */
const UNREFUSED_API_LIMIT = "1000000/minute";

/**
 * The project's worker in local mode, configured as an operator would, with one API key; with a
 * database, its two roles' URLs and the local SQL endpoint, as `npm run dev` and the tests give them.
 */
/** The login limits of wrangler.jsonc; a login scenario lifts them all, the per-isolate password budget included. */
const LOGIN_LIMITS = { ip: "5/minute", network: "20/minute", username: "10/hour", isolate: "20/second" };
const UNREFUSED_LOGIN_LIMITS = {
  ip: UNREFUSED_API_LIMIT,
  network: UNREFUSED_API_LIMIT,
  username: UNREFUSED_API_LIMIT,
  isolate: "1000000/second",
};

export function mainWorkerBindings(
  { port, apiKey, database }: BindingContext,
  rateLimitApi: string,
  rateLimitLogin = LOGIN_LIMITS,
): Record<string, string> {
  return {
    APP_ENV: "local",
    DATABASE_URL: database?.metricsUrl ?? UNREACHABLE_DATABASE_URL,
    AUTH_DATABASE_URL: database?.authUrl ?? UNREACHABLE_DATABASE_URL,
    LOCAL_SQL_ENDPOINT: database?.sqlEndpoint ?? UNREACHABLE_SQL_ENDPOINT,
    LOCAL_SQL_SECRET: database?.sqlSecret ?? UNUSED_SQL_SECRET,
    ALLOWED_HOSTS: `127.0.0.1:${port}`,
    ALLOWED_ORIGINS: BENCH_ORIGIN,
    HSTS_PRELOAD: "false",
    PASSWORD_PEPPER: BENCH_PASSWORD_PEPPER,
    JWT_SIGNING_KEY: BENCH_TOKENS.signingKey,
    TENANT_SCOPE_KEY: BENCH_TENANT_SCOPE_KEY,
    JWT_ISSUER: BENCH_TOKENS.issuer,
    JWT_AUDIENCE: BENCH_TOKENS.audience,
    TOKEN_TTL_SECONDS: String(BENCH_TOKENS.ttlSeconds),
    RATE_LIMIT_API: rateLimitApi,
    // One key calls from every client address here: its own budget must never be what refuses.
    RATE_LIMIT_PRINCIPAL: UNREFUSED_API_LIMIT,
    RATE_LIMIT_API_IPV6_56: UNREFUSED_API_LIMIT,
    RATE_LIMIT_API_IPV6_48: UNREFUSED_API_LIMIT,
    // The database scenarios read as one tenant at hundreds a second: its budget must not be what refuses.
    RATE_LIMIT_TENANT_QUERIES: UNREFUSED_API_LIMIT,
    TENANT_QUERY_CONCURRENCY: "1000",
    RATE_LIMIT_LOGIN_IP: rateLimitLogin.ip,
    RATE_LIMIT_LOGIN_IPV4_24: rateLimitLogin.network,
    RATE_LIMIT_LOGIN_IPV6_56: rateLimitLogin.network,
    RATE_LIMIT_LOGIN_IPV6_48: rateLimitLogin.network,
    RATE_LIMIT_LOGIN_USERNAME: rateLimitLogin.username,
    RATE_LIMIT_LOGIN_DEVICE: rateLimitLogin.username,
    RATE_LIMIT_LOGIN_ISOLATE: rateLimitLogin.isolate,
    RATE_LIMIT_LEGACY_HEADERS: "true",
    RATE_LIMIT_ADMIN: "30/minute",
    API_KEYS: JSON.stringify([
      { id: apiKey.id, digest: apiKey.sha256Hex, tenant: BENCH_TENANT, scopes: ["metrics:read"] },
    ]),
  };
}

/** The limits the flood meets, as wrangler.jsonc ships them. */
export const SHIPPED_BUDGET_VARS = [
  "RATE_LIMIT_API_IPV6_56",
  "RATE_LIMIT_API_IPV6_48",
  "RATE_LIMIT_TENANT_QUERIES",
  "TENANT_QUERY_CONCURRENCY",
] as const;

export type ShippedBudget = Record<(typeof SHIPPED_BUDGET_VARS)[number], string>;

export function shippedBudget(): ShippedBudget {
  const { vars } = readJsonc(path.join(PROJECT_ROOT, "wrangler.jsonc")) as { vars: Record<string, string> };
  return Object.fromEntries(SHIPPED_BUDGET_VARS.map((name) => [name, vars[name]!])) as ShippedBudget;
}

/** The project worker's Durable Objects, as wrangler.jsonc binds them. */
export const MAIN_DURABLE_OBJECTS = {
  RATE_LIMITER: "RateLimiter",
  KEY_REGISTRY: "KeyRegistry",
  SESSION_FAMILIES: "SessionFamilies",
  TENANT_KEYS: "TenantKeys",
  SIGN_IN_TURNS: "SignInTurns",
};

/** The limit of the `main-limited` instance: the exactness burst must admit exactly this many. */
export const LIMITED_API_LIMIT = 100;

export const INSTANCES = [
  { name: "bare", bundle: "bare", bindings: () => ({}) },
  { name: "refusal", bundle: "refusal", bindings: () => ({}) },
  {
    name: "builtins",
    bundle: "builtins",
    bindings: ({ apiKey }) => ({ ALLOWED_ORIGIN: BENCH_ORIGIN, API_KEY: apiKey.key }),
    durableObjects: { COUNTER: "Counter" },
  },
  {
    name: "main",
    bundle: "main",
    bindings: (context) => mainWorkerBindings(context, UNREFUSED_API_LIMIT),
    durableObjects: MAIN_DURABLE_OBJECTS,
  },
  {
    name: "main-limiter-without-storage",
    bundle: "mainLimiterWithoutStorage",
    bindings: (context) => mainWorkerBindings(context, UNREFUSED_API_LIMIT),
    durableObjects: MAIN_DURABLE_OBJECTS,
  },
  {
    name: "main-in-isolate-limiter",
    bundle: "mainInIsolateLimiter",
    bindings: (context) => mainWorkerBindings(context, UNREFUSED_API_LIMIT),
    durableObjects: MAIN_DURABLE_OBJECTS,
  },
  // The main worker with a signing secret: the `keys` scenarios present 10,000 different signed keys.
  {
    name: "main-signed-keys",
    bundle: "main",
    bindings: (context) => ({
      ...mainWorkerBindings(context, UNREFUSED_API_LIMIT),
      API_KEY_SIGNING_SECRETS: JSON.stringify([BENCH_SIGNING_SECRET]),
    }),
    durableObjects: MAIN_DURABLE_OBJECTS,
  },
  // Verification alone: the bench's legacy key as the one API_KEYS entry, and its signing secret.
  {
    name: "verify",
    bundle: "verify",
    bindings: ({ apiKey }) => ({
      API_KEYS: JSON.stringify([
        { id: apiKey.id, digest: apiKey.sha256Hex, tenant: BENCH_TENANT, scopes: ["metrics:read"] },
      ]),
      API_KEY_SIGNING_SECRETS: JSON.stringify([BENCH_SIGNING_SECRET]),
    }),
  },
  // The main worker on a seeded history each: same code, same rows in the overview's window. Login
  // is unlimited on the first, so the login scenario measures the lookup, not the limiter's 429.
  {
    name: "main-10k-buckets",
    bundle: "main",
    bindings: (context) => mainWorkerBindings(context, UNREFUSED_API_LIMIT, UNREFUSED_LOGIN_LIMITS),
    durableObjects: MAIN_DURABLE_OBJECTS,
    database: "bench_10k",
  },
  {
    name: "main-10m-buckets",
    bundle: "main",
    bindings: (context) => mainWorkerBindings(context, UNREFUSED_API_LIMIT),
    durableObjects: MAIN_DURABLE_OBJECTS,
    database: "bench_10m",
  },
  {
    name: "main-limited",
    bundle: "main",
    bindings: (context) => mainWorkerBindings(context, `${LIMITED_API_LIMIT}/minute`),
    durableObjects: MAIN_DURABLE_OBJECTS,
  },
  // The legacy X-RateLimit-* triple switched off: what those three headers cost a refusal.
  {
    name: "main-limited-no-legacy",
    bundle: "main",
    bindings: (context) => ({
      ...mainWorkerBindings(context, `${LIMITED_API_LIMIT}/minute`),
      RATE_LIMIT_LEGACY_HEADERS: "false",
    }),
    durableObjects: MAIN_DURABLE_OBJECTS,
  },
  // The tenant flood (tenant-flood.ts): the shipped network and tenant limits on a small history.
  // Tenant B reads from the first; the second stands for the other isolates of the edge where
  // tenant A's flood can land, reading the same database.
  {
    name: "main-tenant-budget",
    bundle: "main",
    bindings: (context) => ({ ...mainWorkerBindings(context, "100/minute"), ...shippedBudget() }),
    durableObjects: MAIN_DURABLE_OBJECTS,
    database: "bench_10k",
  },
  {
    name: "main-tenant-budget-elsewhere",
    bundle: "main",
    bindings: (context) => ({ ...mainWorkerBindings(context, "100/minute"), ...shippedBudget() }),
    durableObjects: MAIN_DURABLE_OBJECTS,
    database: "bench_10k",
  },
  // `npm run soak`: the production limits, so a mixed load meets real 429s, on a small history.
  {
    name: "main-soak",
    bundle: "main",
    // A username allows 2 failed logins a minute instead of 10 an hour, so some logins keep succeeding.
    bindings: (context) => mainWorkerBindings(context, "100/minute", { ...LOGIN_LIMITS, username: "120/hour" }),
    durableObjects: MAIN_DURABLE_OBJECTS,
    database: "bench_10k",
  },
] as const satisfies readonly InstanceSpec[];

export type InstanceName = (typeof INSTANCES)[number]["name"];
