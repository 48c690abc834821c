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
import { useMemoryTmpdir } from "./test/support/memory-tmpdir.ts";

useMemoryTmpdir();

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
 * Worker files that write tenants and users: they run beside each other on a Postgres of their
 * own, because the `worker` project's injection and database-fault tests fingerprint whole tables
 * and assert that nothing changed while they ran.
 */
const DATABASE_WRITERS = [
  "test/auth/roles.test.ts",
  "test/routes/leaked-keys.test.ts",
  "test/routes/tenant-keys.test.ts",
  "test/routes/session.test.ts",
];

/**
 * The database faults assert that nothing was written while they ran, by a whole-table fingerprint,
 * as the injection tests do; but the injection tests' check that the fingerprint can move writes a
 * probe row. Each needs a database no other file writes while it runs.
 */
const DATABASE_FAULTS = ["test/routes/database-faults.test.ts"];

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
/**
 * Then the rest, project by project in this order. The orders tried (this one; browser and node
 * first) differed by less than a run's spread, 192–204 s.
 */
const PROJECT_ORDER = ["worker", "worker-faults", "browser", "node", "worker-writers"];

/**
 * A project of test files that run inside workerd, on a Postgres and SQL endpoint of its own. A
 * runtime serves the project's files one after another (test/support/fresh-runtime.ts): starting
 * workerd and importing the worker was most of a file's time.
 */
function workerProject(options: { name: string; include: string[]; exclude: string[] }) {
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
      isolate: false,
      setupFiles: ["test/support/fresh-runtime.ts"],
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
    sequence: { sequencer: longestFirst(RUN_FIRST, PROJECT_ORDER) },
    projects: [
      workerProject({
        name: "worker",
        include: ["test/**/*.test.ts"],
        exclude: [...NOT_WORKER_FILES, ...DATABASE_WRITERS, ...DATABASE_FAULTS],
      }),
      workerProject({ name: "worker-writers", include: DATABASE_WRITERS, exclude: [] }),
      workerProject({ name: "worker-faults", include: DATABASE_FAULTS, exclude: [] }),
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
          isolate: false,
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
          isolate: false,
          // Starting Postgres, wrangler dev and Chromium takes tens of seconds on a shared machine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
