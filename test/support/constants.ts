/** Test-only secrets: fixed so failures reproduce; never used outside the suite. */
export const TEST_PEPPER = "test-pepper-0123456789abcdef0123456789abcdef";
export const TEST_JWT_SIGNING_KEY = "test-jwt-signing-key-0123456789abcdef0123456789";
export const TEST_TENANT_SCOPE_KEY = "test-tenant-scope-key-0123456789abcdef0123456789";
/** The suite's access-token settings (wrangler.jsonc's vars), to issue tokens the worker accepts. */
export const TEST_TOKENS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};

/** API keys in the production format; the suite's API_KEYS secret holds only their digests. */
export const TEST_API_KEYS = {
  acmeCurrent: {
    id: "acme-ci-2026",
    tenant: "acme",
    key: "sfk_acme-ci-2026_GatgiEtqI1gt2alOoNnwMAVhFOhujdQfsbTXa0WwVco",
  },
  acmeNext: { id: "acme-ci-2027", tenant: "acme", key: "sfk_acme-ci-2027_ECwS2qLG7qnRGKpT9YiQVl2kGusNfY-rDf5R0S6ysoc" },
  globexLimited: {
    id: "globex-etl",
    tenant: "globex",
    key: "sfk_globex-etl_PyC4Y9MhxxLavaGh10FOyUQ_JgrfTi-5heWnvIAXPvo",
    rateLimit: "3/minute",
  },
} as const;

/** The API_KEYS secret for the suite: digests only, as in production. */
export function apiKeysSecret(
  keys: readonly { id: string; tenant: string; key: string; rateLimit?: string }[],
  sha256Hex: (text: string) => string,
): string {
  return JSON.stringify(
    keys.map((entry) => ({
      id: entry.id,
      digest: sha256Hex(entry.key),
      tenant: entry.tenant,
      scopes: ["metrics:read"],
      ...(entry.rateLimit === undefined ? {} : { rate_limit: entry.rateLimit }),
    })),
  );
}

/** Credential of the admin routes in the suite. */
export const TEST_ADMIN_SECRET = "test-admin-secret-0123456789abcdef0123456789";

/** Signing secrets of the suite, newest first; `retired` is one no longer listed. */
export const TEST_SIGNING_SECRETS = {
  current: { kid: "t2", secret: "test-signing-secret-two-0123456789abcdef01234" },
  previous: { kid: "t1", secret: "test-signing-secret-one-0123456789abcdef01234" },
  retired: { kid: "t0", secret: "test-signing-secret-zero-0123456789abcdef0123" },
} as const;

/**
 * `application_name` values that make the suite's SQL endpoint misbehave for that connection
 * string only (test/support/sql-faults.ts); every other request passes untouched.
 */
export const SQL_FAULTS = {
  /** Postgres cancels the statement at the role's timeout: after 5 s, Neon's 400 with SQLSTATE 57014. */
  statementTimeout: "fault-statement-timeout",
  /** No answer at all for 10 s: longer than the worker's 8 s request timeout. */
  unanswered: "fault-unanswered",
  /** The backend dies mid-transaction: Neon's 400 with SQLSTATE 57P01 (FATAL). */
  terminated: "fault-terminated",
  /** The connection drops without an answer. */
  hangUp: "fault-hang-up",
  /** The proxy cannot connect to Postgres: HTTP 500. */
  refused: "fault-refused",
  /** 200 whose body is not JSON. */
  notJson: "fault-not-json",
  /** 200 with JSON of the wrong shape. */
  wrongShape: "fault-wrong-shape",
  /** 200 with fewer result sets than statements. */
  missingResults: "fault-missing-results",
  /** 200 with a body cut off halfway. */
  truncated: "fault-truncated",
} as const;

/** Text every injected fault carries, so a test can prove none of it reaches a client. */
export const SQL_FAULT_MARKER = "injected-fault-text";
