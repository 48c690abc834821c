/**
 * Admin routes for API keys and revocation, behind the admin credential (composed in app.ts before
 * CORS, so no browser origin ever gets an answer it may read). Kept out of the public OpenAPI
 * document: they are for operators and their scripts (`npm run key:new`, `key:list`,
 * `key:revoke`, `token:revoke`), documented in the README.
 *
 *   POST /admin/keys         {"id","tenant","scopes","rate_limit"?} → 201 with the key, shown once
 *   GET  /admin/keys         ?tenant= → every key: id, tenant, scopes, created, last used, revoked, retired
 *   POST /admin/revocations  {"kind","subject"} → 201; takes effect everywhere within 60 s
 *   GET  /admin/users/{user}/sessions     → the user's live dashboard sessions (OWASP ASVS V7.4)
 *   DELETE /admin/users/{user}/sessions   → ends them all at once
 *
 * A user is named as the operator types it and resolved as the database spells it (404 when no
 * user matches, 409 when two differ only in case), so a revocation never silently matches nobody.
 * Every success is an audit event naming the id, tenant or user acted on; every refusal is one too
 * (src/middleware/admin-audit.ts). The key itself is in the one response that creates it and
 * nowhere else.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { audit } from "../audit.ts";
import type { ApiKeyEntry, ApiKeyVerifier } from "../auth/api-keys.ts";
import { KEY_ID, keyRequestSchema, TENANT_SLUG } from "../auth/api-keys.ts";
import type { UserRecord } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { IssuedKey, KeyRegistry } from "../keys/registry.ts";
import { REVOCATION_KINDS, type RevocationCache, RevocationSet } from "../keys/revocations.ts";
import type { SessionFamilies } from "../keys/session-families.ts";
import type { SessionStates } from "../keys/session-states.ts";
import { mergeLastUsed } from "../keys/usage.ts";
import { jsonBody } from "../middleware/json-body.ts";
import { createRouter, problem } from "../openapi.ts";

const ADMIN_BODY_MAX_BYTES = 1024;
const USERNAME = /^[A-Za-z0-9_]{3,50}$/;

const revocationRequest = z
  .object({ kind: z.enum(REVOCATION_KINDS), subject: z.string().min(1).max(64) })
  .strict()
  .superRefine((request, ctx) => {
    const pattern = request.kind === "key" ? KEY_ID : request.kind === "user" ? USERNAME : TENANT_SLUG;
    if (!pattern.test(request.subject))
      ctx.addIssue({
        code: "custom",
        path: ["subject"],
        message: `not a valid ${request.kind === "key" ? "key id" : request.kind === "user" ? "user name" : "tenant slug"}`,
      });
  });

const issueKey = createRoute({
  method: "post",
  path: "/admin/keys",
  hide: true,
  request: { body: { content: { "application/json": { schema: keyRequestSchema } }, required: true } },
  responses: {
    201: { description: "The new key, shown once" },
    400: problem("Invalid request"),
    409: problem("Id taken, or no signing secret"),
  },
});

const listKeys = createRoute({
  method: "get",
  path: "/admin/keys",
  hide: true,
  request: { query: z.object({ tenant: z.string().regex(TENANT_SLUG).optional() }).strict() },
  responses: { 200: { description: "Every key and its state" } },
});

const revoke = createRoute({
  method: "post",
  path: "/admin/revocations",
  hide: true,
  request: { body: { content: { "application/json": { schema: revocationRequest } }, required: true } },
  responses: {
    201: { description: "Revoked" },
    400: problem("Invalid request"),
    404: problem("Unknown key id or user"),
    409: problem("User name ambiguous"),
  },
});

const userParams = z.object({ user: z.string().regex(USERNAME) }).strict();

const listSessions = createRoute({
  method: "get",
  path: "/admin/users/{user}/sessions",
  hide: true,
  request: { params: userParams },
  responses: {
    200: { description: "The user's live sessions" },
    404: problem("Unknown user"),
    409: problem("User name ambiguous"),
  },
});

const endSessions = createRoute({
  method: "delete",
  path: "/admin/users/{user}/sessions",
  hide: true,
  request: { params: userParams },
  responses: {
    200: { description: "Every session of the user ended" },
    404: problem("Unknown user"),
    409: problem("User name ambiguous"),
  },
});

export interface AdminRoutesDeps {
  apiKeys: ApiKeyVerifier;
  /** Kids of the signing secrets still listed: keys signed under any other are refused. */
  verifyingKids: readonly string[];
  /** The legacy API_KEYS entries: listed with the issued keys, and their ids are never issued again. */
  legacyEntries: readonly ApiKeyEntry[];
  registry: (c: Context<AppEnv>) => DurableObjectStub<KeyRegistry>;
  /** The objects usage batches go to (src/keys/registry.ts, USAGE_SHARDS); the global one is read too. */
  usageShards: readonly ((c: Context<AppEnv>) => DurableObjectStub<KeyRegistry>)[];
  /** Users whose name matches ignoring case, the exact spelling first (src/db/users.ts). */
  findUsers: (name: string) => Promise<UserRecord[]>;
  /** This isolate's copy of the revocation list, told at once of a revocation made here. */
  revocations: RevocationCache;
  /** The object that owns a user's dashboard sessions. */
  families: (subject: string) => DurableObjectStub<SessionFamilies>;
  /** This isolate's copy of the families, told at once when an admin ends them. */
  states: SessionStates;
  /** Epoch ms. */
  clock: () => number;
  clientIp: (c: Context<AppEnv>) => string;
}

const iso = (epochMs: number | undefined) => (epochMs === undefined ? null : new Date(epochMs).toISOString());

export function createAdminRoutes({
  apiKeys,
  verifyingKids,
  legacyEntries,
  registry,
  usageShards,
  findUsers,
  revocations,
  families,
  states,
  clock,
  clientIp,
}: AdminRoutesDeps) {
  const legacyIds = new Set(legacyEntries.map((entry) => entry.id));
  const verifying = new Set(verifyingKids);
  const audited = (c: Context<AppEnv>, action: string, subject: string) =>
    audit({ action, outcome: "success", subject, requestId: c.get("requestId"), clientIp: clientIp(c) });

  const resolveUser = async (name: string): Promise<UserRecord> => {
    const [first, second] = await findUsers(name);
    if (first === undefined)
      throw new AppError({
        status: 404,
        code: "unknown-user",
        title: "Unknown user",
        detail: "No user has this name.",
      });
    if (first.username !== name && second !== undefined) {
      throw new AppError({
        status: 409,
        code: "ambiguous-user",
        title: "User name ambiguous",
        detail: "Several users match this name ignoring case: give the exact spelling.",
      });
    }
    return first;
  };

  const router = createRouter();
  for (const path of ["/admin/keys", "/admin/revocations"])
    router.on("POST", path, jsonBody({ maxBytes: ADMIN_BODY_MAX_BYTES }));
  return router
    .openapi(issueKey, async (c) => {
      const request = c.req.valid("json");
      const kid = apiKeys.signingKid;
      if (kid === undefined) {
        throw new AppError({
          status: 409,
          code: "signing-not-configured",
          title: "Cannot issue keys",
          detail: "Set API_KEY_SIGNING_SECRETS to issue signed keys.",
        });
      }
      const nowMs = clock();
      const issuedAtSeconds = Math.floor(nowMs / 1000);
      const record: IssuedKey = {
        id: request.id,
        tenant: request.tenant,
        scopes: request.scopes,
        ...(request.rate_limit === undefined ? {} : { rateLimit: request.rate_limit }),
        kid,
        createdAtMs: issuedAtSeconds * 1000,
      };
      // Registered first: an id is issued once, ever, so a revoked id can never come back.
      if (legacyIds.has(request.id) || !(await registry(c).register(record))) {
        throw new AppError({
          status: 409,
          code: "key-id-taken",
          title: "Key id taken",
          detail: "A key with this id was already issued; ids are never reused.",
        });
      }
      const key = await apiKeys.issue(
        {
          id: record.id,
          tenant: record.tenant,
          scopes: record.scopes,
          ...(record.rateLimit === undefined ? {} : { rateLimit: record.rateLimit }),
        },
        issuedAtSeconds,
      );
      audited(c, "admin.keys.issue", request.id);
      return c.json(
        {
          key,
          id: record.id,
          tenant: record.tenant,
          scopes: record.scopes,
          rate_limit: record.rateLimit ?? null,
          kid: record.kid,
          created_at: iso(record.createdAtMs),
        },
        201,
      );
    })
    .openapi(listKeys, async (c) => {
      const { tenant } = c.req.valid("query");
      const [snapshot, ...shards] = await Promise.all([
        registry(c).snapshot(),
        ...usageShards.map((shard) => shard(c).lastUsed()),
      ]);
      const lastUsedMs = mergeLastUsed([snapshot.lastUsedMs, ...shards]);
      const revoked = new RevocationSet();
      revoked.apply(snapshot.revocations);
      const keys = [
        ...legacyEntries.map((entry) => ({
          id: entry.id,
          tenant: entry.tenant,
          scopes: entry.scopes,
          rateLimit: entry.rate_limit,
          format: "legacy" as const,
          kid: undefined,
          createdAtMs: undefined,
        })),
        ...snapshot.keys.map((key) => ({ ...key, format: "signed" as const })),
      ];
      audited(c, "admin.keys.list", tenant ?? "*");
      return c.json(
        {
          keys: keys
            .filter((key) => tenant === undefined || key.tenant === tenant)
            .map((key) => ({
              id: key.id,
              tenant: key.tenant,
              scopes: key.scopes,
              rate_limit: key.rateLimit ?? null,
              format: key.format,
              kid: key.kid ?? null,
              created_at: iso(key.createdAtMs),
              last_used_at: iso(lastUsedMs[key.id]),
              // Refused because its signing secret was removed, not because it was revoked.
              retired: key.kid !== undefined && !verifying.has(key.kid),
              revoked: revoked.keyRevoked({
                id: key.id,
                tenant: key.tenant,
                ...(key.createdAtMs === undefined ? {} : { issuedAtSeconds: key.createdAtMs / 1000 }),
              }),
            })),
        },
        200,
      );
    })
    .openapi(revoke, async (c) => {
      const request = c.req.valid("json");
      const { kind } = request;
      const stub = registry(c);
      if (kind === "key" && !legacyIds.has(request.subject) && !(await stub.hasKey(request.subject))) {
        throw new AppError({
          status: 404,
          code: "unknown-key",
          title: "Unknown key",
          detail: "No key with this id was ever issued.",
        });
      }
      // Tokens carry the name as the database spells it: revoking another spelling would match nothing.
      const subject = kind === "user" ? (await resolveUser(request.subject)).username : request.subject;
      const revocation = await stub.revoke(kind, subject, clock());
      revocations.applyLocally(revocation);
      audited(c, `admin.revoke.${kind}`, subject);
      return c.json(
        { kind: revocation.kind, subject: revocation.subject, revoked_at: iso(revocation.revokedAtMs) },
        201,
      );
    })
    .openapi(listSessions, async (c) => {
      const user = await resolveUser(c.req.valid("param").user);
      const live = await families(user.username).live(Math.floor(clock() / 1000));
      audited(c, "admin.sessions.list", user.username);
      return c.json(
        {
          user: user.username,
          tenant: user.tenant,
          sessions: live.map((family) => ({
            family: family.id,
            tenant: family.tenant,
            signed_in_at: iso(family.authTimeSeconds * 1000),
            ends_at: iso(family.endsAtSeconds * 1000),
            refreshes: family.generation - 1,
          })),
        },
        200,
      );
    })
    .openapi(endSessions, async (c) => {
      const user = await resolveUser(c.req.valid("param").user);
      const ended = await families(user.username).endAll();
      states.noteAllEnded(user.username);
      audited(c, "admin.sessions.end", user.username);
      return c.json({ user: user.username, ended }, 200);
    });
}
