import { env } from "cloudflare:test";

/** Bindings the suite adds for its fixtures; the worker never reads them. */
export const testEnv = env as Env & {
  /** Owner URL, for counting rows and checking tables are unchanged. */
  TEST_OWNER_DATABASE_URL: string;
  /** `postgresql` or `pglite`. */
  TEST_DATABASE_KIND: string;
  LOCAL_SQL_ENDPOINT: string;
  LOCAL_SQL_SECRET: string;
};
