/**
 * Composition: the middleware order here is the security order. Each line says why it sits where
 * it does; each behaviour lives in the file its import names.
 */
import type { Context } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import { createApiKeyVerifier } from "./auth/api-keys.ts";
import { deviceCookies } from "./auth/device-cookie.ts";
import { partnerKeySource, publishedKeysFetcher } from "./auth/partner-keys.ts";
import { partnerSignatures } from "./auth/partner-signature.ts";
import { sessionCookie } from "./auth/session-cookie.ts";
import { sessionTokens } from "./auth/session-token.ts";
import { createSignIn } from "./auth/sign-in.ts";
import { usernameTurns } from "./auth/username-turns.ts";
import { createDatabase } from "./db/client.ts";
import { readinessCheck } from "./db/health.ts";
import { tenantScope } from "./db/tenant-scope.ts";
import { findKeyManager, findLoginRecord, findUsersByName } from "./db/users.ts";
import type { AppConfig, AppEnv, ConfigProblem } from "./env.ts";
import { AppError, notFound, onError, problemResponse } from "./errors.ts";
import { coloCachedSource } from "./keys/colo-cache.ts";
import { keyRegistry, revocationShard, USAGE_SHARDS, usageShard } from "./keys/registry.ts";
import { RevocationCache } from "./keys/revocations.ts";
import { createRevoker } from "./keys/revoke.ts";
import { sessionFamilies } from "./keys/session-families.ts";
import { SessionStates } from "./keys/session-states.ts";
import { tenantKeys } from "./keys/tenant-keys.ts";
import { mergeLastUsed, UsageRecorder } from "./keys/usage.ts";
import { adminAudit } from "./middleware/admin-audit.ts";
import { adminCredential } from "./middleware/admin-credential.ts";
import { authenticate } from "./middleware/authenticate.ts";
import { corsAllowlist } from "./middleware/cors.ts";
import { floodGate } from "./middleware/flood-gate.ts";
import { invalidCredentialBound } from "./middleware/invalid-credential-bound.ts";
import { layer } from "./middleware/layer.ts";
import { networkLimit } from "./middleware/network-rate-limit.ts";
import {
  apiKeyLimit,
  createRateLimiter,
  keyedLimit,
  principalKey,
  rateLimit,
  rateLimits,
} from "./middleware/rate-limit.ts";
import { requestId } from "./middleware/request-id.ts";
import { requireScope } from "./middleware/require-scope.ts";
import { securityHeaders } from "./middleware/security-headers.ts";
import { tenantBudget } from "./middleware/tenant-budget.ts";
import { transportSecurity } from "./middleware/transport-security.ts";
import { trustedHost } from "./middleware/trusted-host.ts";
import { createRouter } from "./openapi.ts";
import { clientKeyFromIp, type NetworkPrefix, networkKeysFromIp } from "./rate-limit/client-ip.ts";
import { DenyCache } from "./rate-limit/deny-cache.ts";
import { IsolateBudget } from "./rate-limit/isolate-budget.ts";
import type { RatePolicy } from "./rate-limit/policy.ts";
import { createAdminRoutes } from "./routes/admin.ts";
import { createAuthRoutes } from "./routes/auth.ts";
import { createDocsRoutes } from "./routes/docs.ts";
import { createHealthRoutes } from "./routes/health.ts";
import { createLeakedKeyRoutes } from "./routes/leaked-keys.ts";
import { createMetricsRoutes } from "./routes/metrics.ts";
import { createSessionRoutes } from "./routes/session.ts";
import { createStreamRoutes } from "./routes/streams.ts";
import { createTenantKeyRoutes } from "./routes/tenant-keys.ts";

const DOCS_PATH = "/docs";

export interface AppDeps {
  config: AppConfig;
  /**
   * Epoch ms: the rate limiters', the revocation cache's and the metrics windows' notion of now.
   * Default `Date.now`.
   */
  clock?: () => number;
  /** Outbound fetch, for the secret-scanning partner's published keys. Default the runtime's `fetch`. */
  fetch?: typeof fetch;
}

/** The authenticated routes that read Postgres: each tenant's database budget applies to them. */
const DATABASE_PATHS = ["/metrics/*", "/streams"];
/**
 * Routes that need a principal: authenticated first (verifying needs no I/O, so a request without a
 * valid credential gets its 401 without creating a limiter object), then limited per IP, per
 * principal from all its addresses together, and per key by the key's own policy.
 */
const AUTHENTICATED_PATHS = ["/auth/me", ...DATABASE_PATHS];
/**
 * Session routes that take the cookie (sign-in, POST /auth/session, has the login limits): limited
 * per IP like the reads.
 */
const SESSION_COOKIE_PATHS = ["/auth/session/refresh", "/auth/logout"];
/**
 * Usage batches per isolate: with USAGE_SHARDS objects, every 5 min is about 42 calls/s per object at
 * 100,000 isolates, where every 10 s to one object was 10,000 (BENCHMARKS.md). "Last used" lags by
 * up to this much, which a key rotation (waiting for a key's use to stop) can afford.
 */
const USAGE_FLUSH_INTERVAL_MS = 300_000;
/** Unauthenticated but reaches the database: limited per IP like the authenticated reads. */
const READINESS_PATH = "/health/ready";
/** How long one readiness check answers for, per isolate. */
const READINESS_TTL_MS = 5000;
/** Short, so a slow limiter barely delays reads (their fail mode is open). */
const API_LIMITER_TIMEOUT_MS = 500;

/** Request id and security headers: the outer layers every response gets, whatever else happens. */
function useOuterLayers(app: ReturnType<typeof createRouter>): void {
  // So every response — errors included — carries an id; the security headers, written last, land
  // on every response, including the refusals below.
  app.use(layer(requestId(), securityHeaders({ docsPath: DOCS_PATH })));
}

/** Serves only the fixed misconfiguration problem; the log names the bad keys, never their values. */
export function createMisconfiguredApp(problems: ConfigProblem[]) {
  const app = createRouter();
  useOuterLayers(app);
  app.all("*", (c) => {
    console.error(
      JSON.stringify({ level: "error", event: "misconfigured", request_id: c.get("requestId"), keys: problems }),
    );
    return problemResponse(c, {
      status: 500,
      code: "misconfigured",
      title: "Service misconfigured",
      detail: "The service is not configured correctly.",
    });
  });
  return app;
}

export function createApp({ config, clock = Date.now, fetch: outboundFetch = fetch }: AppDeps) {
  const namespace = config.RATE_LIMITER;
  // One per isolate: refusals learned on any route short-circuit later requests of that key.
  const denyCache = new DenyCache();
  const app = createRouter();

  // Before everything: a client already refused is answered from memory with a copy of the full
  // chain's own 429 (same headers, same problem), at a fraction of the chain's cost. Where https is
  // required, plain http passes on to the transport check, which reports a credential as exposed.
  const gate = floodGate({
    denyCache,
    clock,
    clientKey: (headers) => clientKeyFromIp(headers.get("cf-connecting-ip") ?? undefined),
    allowedOrigins: new Set(config.ALLOWED_ORIGINS),
    legacyHeaders: config.RATE_LIMIT_LEGACY_HEADERS,
    httpsOnly: config.APP_ENV !== "local",
    guards: [
      { paths: [...AUTHENTICATED_PATHS, ...SESSION_COOKIE_PATHS, READINESS_PATH], policy: config.RATE_LIMIT_API },
      { paths: ["/auth/login"], policy: config.RATE_LIMIT_LOGIN_IP },
    ],
  });
  app.use(gate.middleware);
  useOuterLayers(app);
  // Per isolate, like the app: keys verify without a lookup; revocations and usage reach the
  // registry objects at most every few seconds, never per request.
  const apiKeys = createApiKeyVerifier({
    signingSecrets: config.API_KEY_SIGNING_SECRETS,
    legacyEntries: config.API_KEYS,
    clock,
  });
  // Each tenant's list from its own object, one call per data center and 10 s for the isolates
  // that are caught up (colo-cache.ts), so no object is on every tenant's path.
  const shardOf = (tenant: string) => revocationShard(config.KEY_REGISTRY, tenant);
  const revocationSource = coloCachedSource({
    source: (tenant, afterSeq) => shardOf(tenant).revocationsSince(afterSeq),
    cache: caches.default,
    clock,
  });
  const revocations = new RevocationCache({ source: revocationSource, clock });
  const revoker = createRevoker({ shard: shardOf, revocations, clock });
  const families = (subject: string) => sessionFamilies(config.SESSION_FAMILIES, subject);
  const nowSeconds = () => Math.floor(clock() / 1000);
  const states = new SessionStates({
    source: async (subject) =>
      (await families(subject).live(nowSeconds())).map((family) => [family.id, family.generation]),
    clock,
  });
  const usageShardOfIsolate = Math.floor(Math.random() * USAGE_SHARDS);
  const usage = new UsageRecorder({
    sink: (entries) => usageShard(config.KEY_REGISTRY, usageShardOfIsolate).recordUsage(entries),
    clock,
    flushIntervalMs: USAGE_FLUSH_INTERVAL_MS,
  });
  const tokens = {
    signingKey: config.JWT_SIGNING_KEY,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.TOKEN_TTL_SECONDS,
  };
  const sessions = sessionCookie({
    tokens: sessionTokens({
      signingKey: config.JWT_SIGNING_KEY,
      issuer: config.JWT_ISSUER,
      ttlSeconds: config.SESSION_TTL_SECONDS,
      maxLifetimeSeconds: config.SESSION_MAX_LIFETIME_SECONDS,
    }),
    revocations,
    states,
    families,
    maxLifetimeSeconds: config.SESSION_MAX_LIFETIME_SECONDS,
    allowedOrigins: config.ALLOWED_ORIGINS,
    clock,
  });

  // Before anything reads the request: a foreign Host is refused without running any other code.
  // Then plain http is redirected or refused before CORS or auth could act on it.
  app.use(
    layer(
      trustedHost({ allowedHosts: config.ALLOWED_HOSTS }),
      transportSecurity({ requireHttps: config.APP_ENV !== "local", hstsPreload: config.HSTS_PRELOAD }),
    ),
  );
  // Admin routes before CORS, and everything under /admin answered here (a 404 past the routes), so
  // no browser origin ever gets a CORS answer from them, preflight or not. Limited per IP before the
  // credential is checked, failing closed: the limit is what slows a guess of the admin secret.
  if (config.ADMIN_SECRET !== undefined) {
    const clientIp = (c: Context<AppEnv>) => c.req.header("cf-connecting-ip") ?? "unknown";
    app.use(
      "/admin/*",
      adminAudit({ clientIp }),
      rateLimit({ namespace, policy: config.RATE_LIMIT_ADMIN, clock, denyCache }),
      adminCredential({ secret: config.ADMIN_SECRET, clientIp }),
    );
    // authDatabase is created further down; the route only calls this once a request arrives.
    const findUsers = async (name: string) => (await authDatabase.read([findUsersByName(name)]))[0];
    app.route(
      "/",
      createAdminRoutes({
        apiKeys,
        verifyingKids: config.API_KEY_SIGNING_SECRETS.map((entry) => entry.kid),
        legacyEntries: config.API_KEYS,
        registry: () => keyRegistry(config.KEY_REGISTRY),
        revocationShard: shardOf,
        revoker,
        usageShards: Array.from({ length: USAGE_SHARDS }, (_, shard) => () => usageShard(config.KEY_REGISTRY, shard)),
        findUsers,
        families,
        states,
        clock,
        clientIp,
      }),
    );
  }
  app.all("/admin/*", notFound);
  // Before routing, so a preflight is answered (or refused) without reaching a handler.
  app.use(corsAllowlist({ allowedOrigins: config.ALLOWED_ORIGINS }));
  // Turns the router's 404 for a known path with another method into a 405 problem with Allow.
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (_c, methods) => {
        throw new AppError({
          status: 405,
          code: "method-not-allowed",
          title: "Method not allowed",
          detail: `Allowed methods: ${methods.join(", ")}.`,
          headers: { Allow: methods.join(", ") },
        });
      },
    }),
  );

  const legacyHeaders = config.RATE_LIMIT_LEGACY_HEADERS;
  const limiterFor = (policy: RatePolicy, timeoutMs?: number) =>
    createRateLimiter({
      namespace,
      policy,
      clock,
      denyCache,
      legacyHeaders,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  const networkKey = (prefix: NetworkPrefix) => (clientIp: string | undefined) => networkKeysFromIp(clientIp)[prefix];
  // Per client, then per IPv6 /56 and /48, narrowest first (network-rate-limit.ts says why).
  const perIp = networkLimit({
    tiers: [
      { limiter: limiterFor(config.RATE_LIMIT_API, API_LIMITER_TIMEOUT_MS), keyOf: clientKeyFromIp },
      { limiter: limiterFor(config.RATE_LIMIT_API_IPV6_56, API_LIMITER_TIMEOUT_MS), keyOf: networkKey("ipv6-56") },
      { limiter: limiterFor(config.RATE_LIMIT_API_IPV6_48, API_LIMITER_TIMEOUT_MS), keyOf: networkKey("ipv6-48") },
    ],
  });
  const limitByIp = rateLimits({ limits: [perIp] });
  const requirePrincipal = authenticate({ apiKeys, tokens, revocations, usage, sessions, clock });
  const perPrincipal = keyedLimit({
    namespace,
    policy: config.RATE_LIMIT_PRINCIPAL,
    clock,
    denyCache,
    legacyHeaders,
    timeoutMs: API_LIMITER_TIMEOUT_MS,
    key: principalKey,
  });
  const perApiKey = apiKeyLimit({ namespace, clock, denyCache, legacyHeaders, timeoutMs: API_LIMITER_TIMEOUT_MS });
  // Before authentication: a network that keeps presenting invalid credentials is refused from
  // memory, but for credentials authentication already accepted, read here as it reads them.
  const presentedCredential = (c: Context<AppEnv>) =>
    c.req.header("authorization") ?? c.req.header("x-api-key") ?? sessions.presentedToken(c);
  const boundInvalid = invalidCredentialBound({ clock, legacyHeaders, credentialOf: presentedCredential });
  // After authentication, the limits and the scope check: a request any of them refuses spends none
  // of its tenant's database budget, and one the budget refuses spends nothing of theirs.
  const databaseBudget = tenantBudget({
    limiter: limiterFor(config.RATE_LIMIT_TENANT_QUERIES, API_LIMITER_TIMEOUT_MS),
    maxInFlight: config.TENANT_QUERY_CONCURRENCY,
    clock,
  });
  const limitPrincipal = rateLimits({ limits: [perIp, perPrincipal, perApiKey] });
  const limitReads = rateLimits({ limits: [perIp, perPrincipal, perApiKey, databaseBudget.knownRefusal] });
  app.use("/auth/me", boundInvalid, requirePrincipal, limitPrincipal);
  for (const path of DATABASE_PATHS) app.use(path, boundInvalid, requirePrincipal, limitReads);
  app.use(READINESS_PATH, limitByIp);
  for (const path of SESSION_COOKIE_PATHS) app.use(path, limitByIp);
  app.on("GET", "/auth/session", limitByIp);
  // Least privilege for keys, per route; users keep their account's read rights.
  app.use("/metrics/*", requireScope({ anyOf: ["metrics:read"] }));
  app.use("/streams", requireScope({ anyOf: ["metrics:read", "streams:read"] }));
  for (const path of DATABASE_PATHS) app.use(path, databaseBudget.middleware);

  // One query runner per role for the isolate: the HTTP path holds no connection between requests.
  const localEndpoint =
    config.LOCAL_SQL_ENDPOINT !== undefined && config.LOCAL_SQL_SECRET !== undefined
      ? { url: config.LOCAL_SQL_ENDPOINT, secret: config.LOCAL_SQL_SECRET }
      : undefined;
  const metricsDatabase = createDatabase({
    connectionString: config.DATABASE_URL,
    localEndpoint,
    tenantScope: tenantScope({ key: config.TENANT_SCOPE_KEY, clock }),
  });
  const authDatabase = createDatabase({ connectionString: config.AUTH_DATABASE_URL, localEndpoint });

  app.route(
    "/",
    createHealthRoutes({
      checkReadiness: readinessCheck({ database: metricsDatabase, ttlMs: READINESS_TTL_MS, clock }),
    }),
  );
  const passwordChecks = config.RATE_LIMIT_LOGIN_ISOLATE;
  // One sign-in for both routes: /auth/login and /auth/session spend the same counters.
  const signIn = createSignIn({
    database: authDatabase,
    passwordPepper: config.PASSWORD_PEPPER,
    limits: {
      byNetwork: [
        { limiter: limiterFor(config.RATE_LIMIT_LOGIN_IP), keyOf: clientKeyFromIp },
        { limiter: limiterFor(config.RATE_LIMIT_LOGIN_IPV4_24), keyOf: networkKey("ipv4-24") },
        { limiter: limiterFor(config.RATE_LIMIT_LOGIN_IPV6_56), keyOf: networkKey("ipv6-56") },
        { limiter: limiterFor(config.RATE_LIMIT_LOGIN_IPV6_48), keyOf: networkKey("ipv6-48") },
      ],
      byUsername: usernameTurns({
        namespace: config.SIGN_IN_TURNS,
        policy: config.RATE_LIMIT_LOGIN_USERNAME,
        clock,
        legacyHeaders,
      }),
      byDevice: limiterFor(config.RATE_LIMIT_LOGIN_DEVICE),
      passwordChecks: new IsolateBudget(passwordChecks.limit, passwordChecks.windowMs),
      devices: deviceCookies({ signingKey: config.JWT_SIGNING_KEY }),
      clock,
    },
  });
  app.route("/", createAuthRoutes({ signIn, tokens, clock }));
  const findUser = async (subject: string) => (await authDatabase.read([findLoginRecord(subject)]))[0];
  app.route("/", createSessionRoutes({ signIn, sessions, findUser }));
  // Key management: the session's own checks (origin, CSRF, role) run in the routes, after this limit.
  app.use("/tenant/*", limitByIp);
  app.route(
    "/",
    createTenantKeyRoutes({
      sessions,
      apiKeys,
      findManager: async (subject) => (await authDatabase.read([findKeyManager(subject)]))[0],
      catalog: (tenant) => tenantKeys(config.TENANT_KEYS, tenant),
      registry: () => keyRegistry(config.KEY_REGISTRY),
      revocations: (c, tenant) => revocations.current(tenant, (promise) => c.executionCtx.waitUntil(promise)),
      revoke: revoker.revokeKey,
      lastUsed: async () =>
        mergeLastUsed(
          await Promise.all([
            keyRegistry(config.KEY_REGISTRY).lastUsed(),
            ...Array.from({ length: USAGE_SHARDS }, (_, shard) => usageShard(config.KEY_REGISTRY, shard).lastUsed()),
          ]),
        ),
      clock,
    }),
  );

  // Leak reports come from the partner's servers, not a browser: limited per IP, signed, no credential.
  app.use("/security/*", limitByIp);
  app.route(
    "/",
    createLeakedKeyRoutes({
      signatures: partnerSignatures(
        partnerKeySource({
          configured: config.SECRET_SCANNING_PUBLIC_KEYS,
          fetchPublished:
            config.SECRET_SCANNING_KEYS_URL === undefined
              ? undefined
              : publishedKeysFetcher(config.SECRET_SCANNING_KEYS_URL, outboundFetch),
          clock,
        }),
      ),
      apiKeys,
      revoke: revoker.revokeKey,
      catalog: (tenant) => tenantKeys(config.TENANT_KEYS, tenant),
      clock,
    }),
  );

  app.route("/", createMetricsRoutes({ database: metricsDatabase, clock }));
  app.route("/", createStreamRoutes({ database: metricsDatabase }));

  // The switch for the docs is the `assets` binding in wrangler.jsonc: without it /docs and
  // /openapi.json are a 404.
  if (config.ASSETS !== undefined) app.route("/", createDocsRoutes({ assets: config.ASSETS, docsPath: DOCS_PATH }));

  app.notFound(notFound);
  app.onError(onError);
  // Even before routing, on paths the gate has seen routed (flood-gate.ts says why).
  const route = app.fetch;
  app.fetch = (request, env, executionCtx) => gate.answer(request) ?? route(request, env, executionCtx);
  return app;
}
