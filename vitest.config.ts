import { createHash } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import {
  apiKeysSecret,
  TEST_ADMIN_SECRET,
  TEST_API_KEYS,
  TEST_JWT_SIGNING_KEY,
  TEST_PEPPER,
  TEST_SIGNING_SECRETS,
  TEST_TENANT_SCOPE_KEY,
} from "./test/support/constants.ts";
import { longestFirst } from "./test/support/longest-first.ts";

const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex");

/** Files that run in Node, not in workerd. */
const NOT_WORKER_FILES = [
  "test/scripts/**",
  "test/sql/**",
  "test/lint/**",
  "test/browser/**",
  "test/dashboard/**",
  "test/docs/**",
];
/**
 * Worker files that assert on what Durable Objects hold (limiter counts for a fixed client, user or
 * key; registry entries; session families), or that write users the others read: each gets a
 * runtime, and so storage, of its own, and they share this project's Postgres, not the `worker`
 * project's, whose injection tests fingerprint whole tables.
 */
const STATEFUL_FILES = [
  "test/keys/*.test.ts",
  "test/fuzz/*.test.ts",
  "test/audit.test.ts",
  "test/auth/roles.test.ts",
  "test/routes/leaked-keys.test.ts",
  "test/routes/tenant-keys.test.ts",
  "test/middleware/authenticate.test.ts",
  "test/middleware/rate-limit.test.ts",
  "test/rate-limit/anonymous.test.ts",
  "test/rate-limit/durable-object.test.ts",
  "test/rate-limit/principal.test.ts",
  "test/routes/admin.test.ts",
  "test/routes/auth.test.ts",
  "test/routes/metrics.test.ts",
  "test/routes/session.test.ts",
  // Counts and bounds under concurrency (many isolates, skewed clocks, injected database faults):
  // their clocks are simulated and their time bounds are the production ones, so they hold beside
  // other files on a busy machine.
  "test/rate-limit/multi-isolate.test.ts",
  "test/routes/login-limits.test.ts",
  "test/routes/database-faults.test.ts",
];

/** The longest files, longest first: they start before the rest (test/support/longest-first.ts). */
const RUN_FIRST = [
  "test/fuzz/requests.test.ts",
  "test/browser/dashboard.test.ts",
  "test/scripts/dev.test.ts",
  "test/rate-limit/multi-isolate.test.ts",
  "test/routes/login-limits.test.ts",
  "test/routes/session.test.ts",
  "test/browser/dashboard-limits.test.ts",
  "test/browser/api-keys.test.ts",
  "test/keys/revocation-shards.test.ts",
  "test/routes/tenant-keys.test.ts",
];

/** A project of test files that run inside workerd, on the suite's Postgres and SQL endpoint. */
function workerProject(options: {
  name: string;
  include: string[];
  exclude: string[];
  /** One runtime for the project's files in a row (test/support/fresh-runtime.ts), not one per file. */
  sharedRuntime: boolean;
}) {
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.jsonc" },
        miniflare: {
          bindings: {
            APP_ENV: "local",
            DATABASE_URL: inject("metricsUrl"),
            AUTH_DATABASE_URL: inject("authUrl"),
            TEST_OWNER_DATABASE_URL: inject("databaseUrl"),
            TEST_DATABASE_KIND: inject("databaseKind"),
            PASSWORD_PEPPER: TEST_PEPPER,
            JWT_SIGNING_KEY: TEST_JWT_SIGNING_KEY,
            TENANT_SCOPE_KEY: TEST_TENANT_SCOPE_KEY,
            API_KEYS: apiKeysSecret(Object.values(TEST_API_KEYS), sha256Hex),
            LOCAL_SQL_ENDPOINT: inject("sqlEndpoint"),
            LOCAL_SQL_SECRET: inject("sqlSecret"),
            API_KEY_SIGNING_SECRETS: JSON.stringify([TEST_SIGNING_SECRETS.current, TEST_SIGNING_SECRETS.previous]),
            ADMIN_SECRET: TEST_ADMIN_SECRET,
            ALLOWED_HOSTS: "localhost",
            ALLOWED_ORIGINS: "https://app.streamforge.test,http://localhost:5173",
            // The per-isolate PBKDF2 budget (20/second in wrangler.jsonc) is tested with isolates of
            // its own (login-limits.test.ts). Here it would make a file's logins depend on how many
            // password checks earlier tests did in the same second: auth.test.ts, run in under a
            // second once the browser files stopped running beside it, got 503 login-busy.
            RATE_LIMIT_LOGIN_ISOLATE: "1000/second",
            // Read by test/fuzz only; `npm run fuzz -- --runs N --seed S` sets them.
            FUZZ_RUNS: process.env.FUZZ_RUNS ?? "",
            FUZZ_SEED: process.env.FUZZ_SEED ?? "",
          },
        },
      })),
    ],
    test: {
      name: options.name,
      include: options.include,
      exclude: options.exclude,
      globalSetup: ["test/support/global-setup.ts"],
      ...(options.sharedRuntime ? { isolate: false, setupFiles: ["test/support/fresh-runtime.ts"] } : {}),
      testTimeout: 15_000,
    },
  };
}

export default defineConfig({
  test: {
    reporters: ["default", "./test/support/slowest-files.ts"],
    // Every project's files run side by side, three at a time (vitest's default on two cores is one):
    // most of a script or browser file is waiting on a process it started. No project turns file
    // parallelism off: vitest would run such a project after all the others, one file at a time.
    maxWorkers: 3,
    sequence: { sequencer: longestFirst(RUN_FIRST) },
    projects: [
      workerProject({
        name: "worker",
        include: ["test/**/*.test.ts"],
        exclude: [...NOT_WORKER_FILES, ...STATEFUL_FILES],
        sharedRuntime: true,
      }),
      workerProject({
        name: "worker-isolated",
        include: STATEFUL_FILES,
        exclude: [],
        // Each file starts a runtime of its own (the plugin has no reuse), most of a file's time.
        sharedRuntime: false,
      }),
      {
        test: {
          name: "node",
          environment: "node",
          include: [
            "test/scripts/**/*.test.ts",
            "test/sql/**/*.test.ts",
            "test/lint/**/*.test.ts",
            "test/dashboard/**/*.test.ts",
            "test/docs/**/*.test.ts",
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "browser",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          globalSetup: ["test/browser/global-setup.ts"],
          // Starting Postgres, wrangler dev and Chromium takes tens of seconds on a shared machine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
