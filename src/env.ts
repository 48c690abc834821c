/**
 * Configuration: every var and secret the worker reads, parsed once per isolate with zod. A
 * missing or malformed value fails closed — the request gets a fixed 500 problem and the log
 * names the offending key, never its value (values may be secrets).
 */
import { z } from "zod";
import { apiKeysSchema, signingSecretsSchema } from "./auth/api-keys.ts";
import { partnerKeysSchema } from "./auth/partner-signature.ts";
import type { Principal } from "./auth/principal.ts";
import type { SignInTurns } from "./auth/sign-in-turns-object.ts";
import type { KeyRegistry } from "./keys/registry.ts";
import type { SessionFamilies } from "./keys/session-families.ts";
import type { TenantKeys } from "./keys/tenant-keys.ts";
import { parseAllowedOrigin } from "./middleware/cors.ts";
import type { RateLimitFields, SpentPermit } from "./middleware/rate-limit.ts";
import { parseHostPattern } from "./middleware/trusted-host.ts";
import type { RateLimiter } from "./rate-limit/durable-object.ts";
import { type FailMode, ratePolicy } from "./rate-limit/policy.ts";

const TLS_SSLMODES = new Set(["require", "verify-full"]);

const postgresUrl = z
  .string()
  .min(1)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "";
    } catch {
      return false;
    }
  }, "must be a postgres:// URL with a host");

/** URL of the local stand-in for Neon's SQL endpoint; loopback only, so queries never leave the machine. */
const loopbackSqlEndpoint = z
  .string()
  .regex(/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}\/sql$/, "must be http://<loopback>:port/sql");

/** A list given as a JSON array or as comma-separated text; every entry must parse, none may be empty. */
function listOf<T>(parseEntry: (entry: string) => T) {
  return z.string().transform((text, ctx) => {
    let entries: unknown;
    try {
      entries = text.trim().startsWith("[") ? JSON.parse(text) : text.split(",").map((entry) => entry.trim());
    } catch {
      ctx.addIssue({ code: "custom", message: "not a JSON array or comma-separated list" });
      return z.NEVER;
    }
    if (
      !Array.isArray(entries) ||
      entries.length === 0 ||
      entries.some((entry) => typeof entry !== "string" || entry === "")
    ) {
      ctx.addIssue({ code: "custom", message: "must list at least one non-empty entry" });
      return z.NEVER;
    }
    const parsed: T[] = [];
    for (const [index, entry] of (entries as string[]).entries()) {
      try {
        parsed.push(parseEntry(entry));
      } catch {
        // Entries are configuration, not secrets, but the position is enough to find the typo.
        ctx.addIssue({ code: "custom", message: `entry ${index + 1} is malformed` });
        return z.NEVER;
      }
    }
    return parsed;
  });
}

function rateLimitPolicy(name: string, failMode: FailMode) {
  return z.string().transform((notation, ctx) => {
    try {
      return ratePolicy(name, notation, failMode);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });
}

const durableObjectNamespace = <T extends RateLimiter | KeyRegistry | SessionFamilies | TenantKeys | SignInTurns>() =>
  z.custom<DurableObjectNamespace<T>>(
    (value) => typeof value === "object" && value !== null && "idFromName" in value,
    "Durable Object binding missing",
  );

/** An optional secret: unset and empty both mean absent. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const assetsFetcher = z.custom<Fetcher>(
  (value) => typeof value === "object" && value !== null && "fetch" in value,
  "Static assets binding missing",
);

/** A secret of at least `bytes` bytes of UTF-8. */
function secret(bytes: number) {
  return z
    .string()
    .refine((value) => new TextEncoder().encode(value).length >= bytes, `must be at least ${bytes} bytes`);
}

const jsonText = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "not valid JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);

const envSchema = z
  .object({
    APP_ENV: z.enum(["production", "local"]),
    /** Read-only metrics role. */
    DATABASE_URL: postgresUrl,
    /** Authentication role: reads users, nothing else. */
    AUTH_DATABASE_URL: postgresUrl,
    LOCAL_SQL_ENDPOINT: loopbackSqlEndpoint.optional(),
    LOCAL_SQL_SECRET: secret(32).optional(),
    ALLOWED_HOSTS: listOf(parseHostPattern),
    ALLOWED_ORIGINS: listOf(parseAllowedOrigin),
    HSTS_PRELOAD: z
      .enum(["true", "false"])
      .default("false")
      .transform((value) => value === "true"),
    RATE_LIMITER: durableObjectNamespace<RateLimiter>(),
    /** Swagger UI's files for /docs (wrangler.jsonc `assets`); without the binding /docs is off. */
    ASSETS: assetsFetcher.optional(),
    // Authenticated reads fail open: a read-only API whose database has its own statement timeout
    // should not go dark because the limiter does. Login fails closed: brute-force protection must
    // not disappear with the limiter.
    RATE_LIMIT_API: rateLimitPolicy("api", "open"),
    // Per principal (a user, whatever session or token it calls with, or an API key), wherever it
    // calls from: one account spread over many addresses gets no more than this.
    RATE_LIMIT_PRINCIPAL: rateLimitPolicy("principal", "open"),
    // Per IPv6 /56 and /48 on the same reads, all their /64s together: a free /48 holds 65,536 /64s.
    RATE_LIMIT_API_IPV6_56: rateLimitPolicy("api-ipv6-56", "open"),
    RATE_LIMIT_API_IPV6_48: rateLimitPolicy("api-ipv6-48", "open"),
    // Database reads per tenant, whoever of it asks: one tenant's flood must not starve the others.
    RATE_LIMIT_TENANT_QUERIES: rateLimitPolicy("tenant-queries", "open"),
    // A tenant's database reads in flight at once in one isolate: spreads a burst of its rate.
    TENANT_QUERY_CONCURRENCY: z.coerce.number().int().min(1).max(1_000),
    RATE_LIMIT_LOGIN_IP: rateLimitPolicy("login-ip", "closed"),
    RATE_LIMIT_LOGIN_IPV4_24: rateLimitPolicy("login-ipv4-24", "closed"),
    RATE_LIMIT_LOGIN_IPV6_56: rateLimitPolicy("login-ipv6-56", "closed"),
    RATE_LIMIT_LOGIN_IPV6_48: rateLimitPolicy("login-ipv6-48", "closed"),
    RATE_LIMIT_LOGIN_USERNAME: rateLimitPolicy("login-username", "closed"),
    RATE_LIMIT_LOGIN_DEVICE: rateLimitPolicy("login-device", "closed"),
    // Per isolate, in memory: it shields this isolate's PBKDF2 CPU, so it has no fail mode.
    RATE_LIMIT_LOGIN_ISOLATE: rateLimitPolicy("login-isolate", "closed"),
    RATE_LIMIT_LEGACY_HEADERS: z
      .enum(["true", "false"])
      .default("true")
      .transform((value) => value === "true"),
    PASSWORD_PEPPER: secret(32),
    JWT_SIGNING_KEY: secret(32),
    /** HMAC key of the tenant scope tokens; the database holds the same key (README: "Tenant scope key"). */
    TENANT_SCOPE_KEY: secret(32),
    JWT_ISSUER: z.string().min(1),
    JWT_AUDIENCE: z.string().min(1),
    // Tokens cannot be revoked one by one, so a stolen one must expire soon: at most an hour.
    TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3_600),
    // Dashboard sessions: ended by a refresh missed for this long (5 min to 1 day), and at most
    // this long after the password was typed (5 min to 7 days), however often they are refreshed.
    SESSION_TTL_SECONDS: z.coerce.number().int().min(300).max(86_400).default(3_600),
    SESSION_MAX_LIFETIME_SECONDS: z.coerce.number().int().min(300).max(604_800).default(43_200),
    // No machine clients is a valid deployment: absent means no key is accepted.
    API_KEYS: optional(jsonText(apiKeysSchema)).transform((keys) => keys ?? []),
    // Signed API keys: absent means none verifies and none can be issued; legacy keys still work.
    API_KEY_SIGNING_SECRETS: optional(jsonText(signingSecretsSchema)).transform((secrets) => secrets ?? []),
    KEY_REGISTRY: durableObjectNamespace<KeyRegistry>(),
    SESSION_FAMILIES: durableObjectNamespace<SessionFamilies>(),
    TENANT_KEYS: durableObjectNamespace<TenantKeys>(),
    SIGN_IN_TURNS: durableObjectNamespace<SignInTurns>(),
    // Public keys that sign secret-scanning reports, always trusted (`[{"key_identifier","key"}]`):
    // pinned keys, or a test's own key pair. Absent: only the published keys below verify.
    SECRET_SCANNING_PUBLIC_KEYS: optional(jsonText(partnerKeysSchema)).transform((keys) => keys ?? []),
    // Where the partner publishes its signing keys (GitHub's list), fetched and cached per isolate
    // (src/auth/partner-keys.ts). https only: the list decides which reports revoke keys.
    // Absent, with no configured keys: every report to POST /security/leaked-keys is refused (401).
    SECRET_SCANNING_KEYS_URL: optional(z.url({ protocol: /^https$/, error: "must be an https:// URL" })),
    // Absent: the admin routes do not exist (404).
    ADMIN_SECRET: optional(secret(32)),
    // Admin routes fail closed: the limit is what slows a guess of the admin secret.
    RATE_LIMIT_ADMIN: rateLimitPolicy("admin", "closed"),
  })
  .superRefine((env, ctx) => {
    if (env.SESSION_MAX_LIFETIME_SECONDS < env.SESSION_TTL_SECONDS) {
      ctx.addIssue({
        code: "custom",
        path: ["SESSION_MAX_LIFETIME_SECONDS"],
        message: "must be at least SESSION_TTL_SECONDS",
      });
    }
    for (const key of ["LOCAL_SQL_ENDPOINT", "LOCAL_SQL_SECRET"] as const) {
      if (env.APP_ENV === "local" && env[key] === undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: "required when APP_ENV is local" });
      } else if (env.APP_ENV !== "local" && env[key] !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: "only allowed when APP_ENV is local" });
      }
    }
    if (env.APP_ENV === "local") return;
    for (const key of ["DATABASE_URL", "AUTH_DATABASE_URL"] as const) {
      const sslmode = new URL(env[key]).searchParams.get("sslmode");
      if (sslmode === null || !TLS_SSLMODES.has(sslmode)) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: "production requires sslmode=require or sslmode=verify-full",
        });
      }
    }
  });

export type AppConfig = z.infer<typeof envSchema>;

export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    principal: Principal;
    /** The credential text the principal was authenticated by: a bearer token, an API key or a session cookie. */
    credential?: string;
    /** The fewest permits left under any rate-limit policy applied so far: what the legacy headers report. */
    rateLimitRemaining?: number;
    /** Set while `rateLimits` applies its limits: where they collect their headers (rate-limit.ts). */
    rateLimitFields?: RateLimitFields;
    /** What `rateLimits` spent for the request, for a later limit's refusal to hand back. */
    spentPermits?: readonly SpentPermit[];
  };
};

export interface ConfigProblem {
  key: string;
  message: string;
}

export type ConfigResult = { ok: true; config: AppConfig } | { ok: false; problems: ConfigProblem[] };

/** Parses the env and reports bad keys without their values; worker.ts calls it once per isolate. */
export function loadConfig(env: object): ConfigResult {
  const parsed = envSchema.safeParse(env);
  return parsed.success
    ? { ok: true, config: parsed.data }
    : {
        ok: false,
        problems: parsed.error.issues.map((issue) => ({
          key: issue.path.map(String).join(".") || "(env)",
          // zod 4 leaves the input out of its messages, so they are safe to log.
          message: issue.message,
        })),
      };
}
