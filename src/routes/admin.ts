/**
 * Admin routes for API keys and revocation, behind the admin credential (composed in app.ts before
 * CORS, so no browser origin ever gets an answer it may read). Kept out of the public OpenAPI
 * document: they are for operators and their scripts (`npm run key:new`, `key:list`,
 * `key:revoke`, `token:revoke`), documented in the README.
 *
 *   POST /admin/keys         {"id","tenant","scopes","rate_limit"?} → 201 with the key, shown once
 *   GET  /admin/keys         ?tenant= → every key: id, tenant, scopes, created, last used, revoked, retired
 *   POST /admin/revocations  {"kind","subject"} → 201; takes effect everywhere within 60 s
 *
 * Every change is an audit event naming the id, tenant or user acted on; the key itself is in the
 * one response that creates it and nowhere else.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ApiKeyEntry, ApiKeyVerifier } from "../auth/api-keys.ts";
import { KEY_ID, keyRequestSchema, TENANT_SLUG } from "../auth/api-keys.ts";
import { audit } from "../audit.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import { jsonBody } from "../middleware/json-body.ts";
import type { IssuedKey, KeyRegistry } from "../keys/registry.ts";
import { REVOCATION_KINDS, RevocationSet } from "../keys/revocations.ts";
import { createRouter, problem } from "../openapi.ts";

const ADMIN_BODY_MAX_BYTES = 1024;
const USERNAME = /^[A-Za-z0-9_]{3,50}$/;

const revocationRequest = z
  .object({ kind: z.enum(REVOCATION_KINDS), subject: z.string().min(1).max(64) })
  .strict()
  .superRefine((request, ctx) => {
    const pattern = request.kind === "key" ? KEY_ID : request.kind === "user" ? USERNAME : TENANT_SLUG;
    if (!pattern.test(request.subject)) ctx.addIssue({ code: "custom", path: ["subject"], message: `not a valid ${request.kind === "key" ? "key id" : request.kind === "user" ? "user name" : "tenant slug"}` });
  });

const issueKey = createRoute({
  method: "post",
  path: "/admin/keys",
  hide: true,
  request: { body: { content: { "application/json": { schema: keyRequestSchema } }, required: true } },
  responses: { 201: { description: "The new key, shown once" }, 400: problem("Invalid request"), 409: problem("Id taken, or no signing secret") },
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
  responses: { 201: { description: "Revoked" }, 400: problem("Invalid request"), 404: problem("Unknown key id") },
});

export interface AdminRoutesDeps {
  apiKeys: ApiKeyVerifier;
  /** Kids of the signing secrets still listed: keys signed under any other are refused. */
  verifyingKids: readonly string[];
  /** The legacy API_KEYS entries: listed with the issued keys, and their ids are never issued again. */
  legacyEntries: readonly ApiKeyEntry[];
  registry: (c: Context<AppEnv>) => DurableObjectStub<KeyRegistry>;
  /** Epoch ms. */
  clock: () => number;
  clientIp: (c: Context<AppEnv>) => string;
}

const iso = (epochMs: number | undefined) => (epochMs === undefined ? null : new Date(epochMs).toISOString());

export function createAdminRoutes({ apiKeys, verifyingKids, legacyEntries, registry, clock, clientIp }: AdminRoutesDeps) {
  const legacyIds = new Set(legacyEntries.map((entry) => entry.id));
  const verifying = new Set(verifyingKids);
  const audited = (c: Context<AppEnv>, action: string, subject: string) =>
    audit({ action, outcome: "success", subject, requestId: c.get("requestId"), clientIp: clientIp(c) });

  const router = createRouter();
  for (const path of ["/admin/keys", "/admin/revocations"]) router.on("POST", path, jsonBody({ maxBytes: ADMIN_BODY_MAX_BYTES }));
  return router
    .openapi(issueKey, async (c) => {
      const request = c.req.valid("json");
      const kid = apiKeys.signingKid;
      if (kid === undefined) {
        throw new AppError({ status: 409, code: "signing-not-configured", title: "Cannot issue keys", detail: "Set API_KEY_SIGNING_SECRETS to issue signed keys." });
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
        throw new AppError({ status: 409, code: "key-id-taken", title: "Key id taken", detail: "A key with this id was already issued; ids are never reused." });
      }
      const key = await apiKeys.issue({ id: record.id, tenant: record.tenant, scopes: record.scopes, ...(record.rateLimit === undefined ? {} : { rateLimit: record.rateLimit }) }, issuedAtSeconds);
      audited(c, "admin.keys.issue", request.id);
      return c.json({ key, id: record.id, tenant: record.tenant, scopes: record.scopes, rate_limit: record.rateLimit ?? null, kid: record.kid, created_at: iso(record.createdAtMs) }, 201);
    })
    .openapi(listKeys, async (c) => {
      const { tenant } = c.req.valid("query");
      const snapshot = await registry(c).snapshot();
      const revoked = new RevocationSet();
      revoked.apply(snapshot.revocations);
      const keys = [
        ...legacyEntries.map((entry) => ({ id: entry.id, tenant: entry.tenant, scopes: entry.scopes, rateLimit: entry.rate_limit, format: "legacy" as const, kid: undefined, createdAtMs: undefined })),
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
              last_used_at: iso(snapshot.lastUsedMs[key.id]),
              // Refused because its signing secret was removed, not because it was revoked.
              retired: key.kid !== undefined && !verifying.has(key.kid),
              revoked: revoked.keyRevoked({ id: key.id, tenant: key.tenant, ...(key.createdAtMs === undefined ? {} : { issuedAtSeconds: key.createdAtMs / 1000 }) }),
            })),
        },
        200,
      );
    })
    .openapi(revoke, async (c) => {
      const { kind, subject } = c.req.valid("json");
      const stub = registry(c);
      if (kind === "key" && !legacyIds.has(subject) && !(await stub.hasKey(subject))) {
        throw new AppError({ status: 404, code: "unknown-key", title: "Unknown key", detail: "No key with this id was ever issued." });
      }
      const revocation = await stub.revoke(kind, subject, clock());
      audited(c, `admin.revoke.${kind}`, subject);
      return c.json({ kind: revocation.kind, subject: revocation.subject, revoked_at: iso(revocation.revokedAtMs) }, 201);
    });
}
