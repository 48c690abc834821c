/**
 * Admin routes for API keys and revocation, behind the admin credential (composed in app.ts before
 * CORS, so no browser origin ever gets an answer it may read). Kept out of the public OpenAPI
 * document: they are for operators and their scripts (`npm run key:new`, `key:list`,
 * `key:revoke`, `token:revoke`), documented in the README.
 *
 *   POST /admin/keys         {"id","tenant","scopes","rate_limit"?} → 201 with the key, shown once
 *   GET  /admin/keys         ?tenant= → every key: id, tenant, scopes, created, last used, revoked, retired
 *   POST /admin/revocations  {"kind","subject"} → 201 naming the tenant whose list holds it; takes
 *                            effect everywhere within 60 s
 *   POST /admin/revocations/migrate?after=  → moves up to 100 entries of the single list kept before
 *                            lists were per tenant into their tenants' lists; `next` for the rest
 *   GET  /admin/users/{user}/sessions     → the user's live dashboard sessions (OWASP ASVS V7.4)
 *   DELETE /admin/users/{user}/sessions   → ends them all at once
 *
 * A user is named as the operator types it and resolved as the database spells it (404 when no
 * user matches, 409 when two differ only in case), so a revocation never silently matches nobody.
 * Each revocation goes into its tenant's list (src/keys/revoke.ts): a key id's tenant is the one it
 * was issued to (or its API_KEYS entry's), a user's the one the database holds.
 * Every success is an audit event naming the id, tenant or user acted on; every refusal is one too
 * (src/middleware/admin-audit.ts). The key itself is in the one response that creates it and
 * nowhere else.
 */

import type { Context } from "hono";
import { z } from "zod";
import { audit } from "../audit.ts";
import type { ApiKeyEntry, ApiKeyVerifier } from "../auth/api-keys.ts";
import { KEY_ID, keyRequestSchema, TENANT_SLUG } from "../auth/api-keys.ts";
import type { UserRecord } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { IssuedKey, KeyRegistry } from "../keys/registry.ts";
import { REVOCATION_KINDS, type RevocationKind, RevocationSet } from "../keys/revocations.ts";
import type { Revoker } from "../keys/revoke.ts";
import type { SessionFamilies } from "../keys/session-families.ts";
import type { SessionStates } from "../keys/session-states.ts";
import { mergeLastUsed } from "../keys/usage.ts";
import { jsonBody } from "../middleware/json-body.ts";
import { createRoute, createRouter, problem } from "../openapi.ts";

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

const migrateRevocations = createRoute({
  method: "post",
  path: "/admin/revocations/migrate",
  hide: true,
  request: { query: z.object({ after: z.coerce.number().int().nonnegative().default(0) }).strict() },
  responses: { 200: { description: "A page of the single list moved into the tenants' lists" } },
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
  /** The issued keys (src/keys/registry.ts `keyRegistry`). */
  registry: (c: Context<AppEnv>) => DurableObjectStub<KeyRegistry>;
  /** The object holding a tenant's revocations, read whole for the key listing. */
  revocationShard: (tenant: string) => DurableObjectStub<KeyRegistry>;
  /** Writes a revocation into its tenant's list and this isolate's copy of it. */
  revoker: Revoker;
  /** The objects usage batches go to (src/keys/registry.ts, USAGE_SHARDS); the global one is read too. */
  usageShards: readonly ((c: Context<AppEnv>) => DurableObjectStub<KeyRegistry>)[];
  /** Users whose name matches ignoring case, the exact spelling first (src/db/users.ts). */
  findUsers: (name: string) => Promise<UserRecord[]>;
  /** The object that owns a user's dashboard sessions. */
  families: (subject: string) => DurableObjectStub<SessionFamilies>;
  /** This isolate's copy of the families, told at once when an admin ends them. */
  states: SessionStates;
  /** Epoch ms. */
  clock: () => number;
  clientIp: (c: Context<AppEnv>) => string;
}

/** A tenant's whole list, page by page, for the listing (an operator's call, not a request's). */
async function wholeList(shard: DurableObjectStub<KeyRegistry>): Promise<RevocationSet> {
  const set = new RevocationSet();
  for (let seq = 0, more = true; more; ) {
    const batch = await shard.revocationsSince(seq);
    set.apply(batch.entries);
    seq = batch.seq;
    more = batch.more;
  }
  return set;
}

const iso = (epochMs: number | undefined) => (epochMs === undefined ? null : new Date(epochMs).toISOString());

export function createAdminRoutes({
  apiKeys,
  verifyingKids,
  legacyEntries,
  registry,
  revocationShard,
  revoker,
  usageShards,
  findUsers,
  families,
  states,
  clock,
  clientIp,
}: AdminRoutesDeps) {
  const legacyTenants = new Map(legacyEntries.map((entry) => [entry.id, entry.tenant]));
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

  /** Which tenant's list a revocation goes into, and the subject as credentials carry it. */
  const revocationTarget = async (
    c: Context<AppEnv>,
    kind: RevocationKind,
    named: string,
  ): Promise<{ tenant: string; subject: string }> => {
    if (kind === "tenant-keys" || kind === "tenant-tokens") return { tenant: named, subject: named };
    if (kind === "user") {
      // Tokens carry the name as the database spells it: revoking another spelling would match nothing.
      const user = await resolveUser(named);
      return { tenant: user.tenant, subject: user.username };
    }
    const tenant = legacyTenants.get(named) ?? (await registry(c).tenantOfKey(named));
    if (tenant === null) {
      throw new AppError({
        status: 404,
        code: "unknown-key",
        title: "Unknown key",
        detail: "No key with this id was ever issued.",
      });
    }
    return { tenant, subject: named };
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
      if (legacyTenants.has(request.id) || !(await registry(c).register(record))) {
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
      const listed = keys.filter((key) => tenant === undefined || key.tenant === tenant);
      const revokedIn = new Map(
        await Promise.all(
          [...new Set(listed.map((key) => key.tenant))].map(
            async (slug) => [slug, await wholeList(revocationShard(slug))] as const,
          ),
        ),
      );
      audited(c, "admin.keys.list", tenant ?? "*");
      return c.json(
        {
          keys: listed.map((key) => ({
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
            revoked: revokedIn.get(key.tenant)!.keyRevoked({
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
      const { tenant, subject } = await revocationTarget(c, kind, request.subject);
      const revocation = await revoker.revoke(tenant, kind, subject);
      audited(c, `admin.revoke.${kind}`, subject);
      return c.json(
        { kind: revocation.kind, subject: revocation.subject, tenant, revoked_at: iso(revocation.revokedAtMs) },
        201,
      );
    })
    .openapi(migrateRevocations, async (c) => {
      // Each entry keeps its original time: a tenant-wide or user revocation compares issue times with it.
      const { after } = c.req.valid("query");
      const page = await registry(c).legacyRevocations(after);
      let moved = 0;
      const unresolved: { kind: string; subject: string }[] = [];
      for (const entry of page.entries) {
        const tenant =
          entry.kind === "tenant-keys" || entry.kind === "tenant-tokens"
            ? entry.subject
            : entry.kind === "key"
              ? (legacyTenants.get(entry.subject) ?? entry.keyTenant ?? undefined)
              : (await findUsers(entry.subject)).find((user) => user.username === entry.subject)?.tenant;
        if (tenant === undefined) unresolved.push({ kind: entry.kind, subject: entry.subject });
        else {
          await revocationShard(tenant).revoke(entry.kind, entry.subject, entry.revokedAtMs);
          moved++;
        }
      }
      audited(c, "admin.revoke.migrate", String(after));
      return c.json({ moved, unresolved, next: page.more ? page.entries.at(-1)!.seq : null }, 200);
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
