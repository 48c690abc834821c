/**
 * API keys a tenant's admins manage themselves, from the dashboard's session (OWASP API1 and
 * API5: object- and function-level authorization on every route):
 *
 *   GET  /tenant/keys                 → the tenant's keys: name, id, scopes, created, expires, last used, state
 *   POST /tenant/keys                 {"name","scopes","rate_limit"?,"expires_in_days"?} → 201 with the key, shown once
 *   POST /tenant/keys/{id}/roll       {"grace_seconds"} → 201 with the successor, shown once; the old key
 *                                     works for the grace period (0–24 h) and is refused within 60 s after it
 *   POST /tenant/keys/{id}/revoke     → 200; refused everywhere within 60 s, at once on this isolate
 *
 * Only the session cookie with its CSRF token, from an allowlisted origin, reaches them (a bearer
 * token or an API key is refused: a leaked key must not mint keys), only for a user whose role,
 * in the token and still in the database, is tenant_admin, and only for the user's own tenant:
 * ids are looked up in the tenant's own TenantKeys object, so another tenant's id is answered
 * exactly as an unknown one. A new key never carries a scope the tenant's plan does not list nor a
 * rate limit above its ceiling (sql/migrations/0005_tenant_roles.sql). Every decision is an audit
 * line naming the tenant and key id, never a key.
 *
 * Keys an operator issued to the tenant (`POST /admin/keys`, `npm run key:new`) are listed too,
 * `issued_by: "operator"`, read from the registry that records every issued id with its tenant, so
 * another tenant's operator key is as unknown here as its own keys. The tenant's admins may revoke
 * one (a tenant must be able to stop a key that leaked without waiting for an operator), but not
 * roll it: a successor would be the tenant's own key, and an operator may have granted scopes or a
 * rate limit beyond the tenant's plan, which a roll would copy past the ceiling. Its state comes
 * from the tenant's revocation list, so a revocation by the operator shows here as well.
 */

import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { audit, auditClient } from "../audit.ts";
import {
  API_KEY_SCOPES,
  type ApiKeyScope,
  type ApiKeyVerifier,
  KEY_ID,
  rateNotation,
  scopeList,
} from "../auth/api-keys.ts";
import { toHex } from "../auth/digest.ts";
import type { SessionCookie } from "../auth/session-cookie.ts";
import type { KeyManager } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { IssuedKey, KeyRegistry } from "../keys/registry.ts";
import type { Revocation, RevocationSet } from "../keys/revocations.ts";
import type { TenantKey, TenantKeys } from "../keys/tenant-keys.ts";
import { jsonBody } from "../middleware/json-body.ts";
import { requireScope } from "../middleware/require-scope.ts";
import { createRoute, createRouter, problem } from "../openapi.ts";
import { parseRateNotation } from "../rate-limit/policy.ts";

const KEY_BODY_MAX_BYTES = 1024;
const DAY_MS = 86_400_000;
/** Unkey's and Zuplo's bound: a day is long enough to move every client of a key. */
const MAX_GRACE_SECONDS = 86_400;
const DEFAULT_LIFETIME_DAYS = 90;
const MAX_LIFETIME_DAYS = 366;

const SESSION_AND_CSRF: { [scheme: string]: string[] }[] = [{ session: [], csrfToken: [] }];

const CreateKeyRequest = z
  .object({
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9 ._:/()-]+$/, "letters, digits, spaces and . _ : / ( ) - only")
      .meta({ example: "CI deploys" }),
    scopes: scopeList,
    rate_limit: rateNotation.optional().meta({ description: "Default: the tenant's ceiling; never above it." }),
    expires_in_days: z.number().int().min(1).max(MAX_LIFETIME_DAYS).default(DEFAULT_LIFETIME_DAYS),
  })
  .strict()
  .meta({ id: "CreateTenantKey" });

const RollKeyRequest = z
  .object({
    grace_seconds: z.number().int().min(0).max(MAX_GRACE_SECONDS),
  })
  .strict()
  .meta({ id: "RollTenantKey" });

const TenantKeyView = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.enum(API_KEY_SCOPES)),
    rate_limit: z
      .string()
      .nullable()
      .meta({ description: "null: an operator's key with no limit of its own (the per-principal limit applies)" }),
    created_at: z.string().meta({ format: "date-time" }),
    expires_at: z.string().nullable().meta({ format: "date-time", description: "null: does not expire" }),
    last_used_at: z.string().nullable().meta({ format: "date-time", description: "To the minute; lags up to 5 min." }),
    state: z.enum(["active", "rolling", "expired", "revoked"]),
    refused_from: z.string().nullable().meta({ format: "date-time" }),
    rolled_from: z.string().nullable(),
    revoked_reason: z.string().nullable(),
    issued_by: z
      .enum(["tenant", "operator"])
      .meta({ description: "operator: issued with POST /admin/keys; it can be revoked here, not rolled" }),
  })
  .meta({ id: "TenantKey" });

// An intersection, not .extend(): the document then shows a TenantKey plus the key, by reference.
const NewTenantKey = z
  .intersection(TenantKeyView, z.object({ key: z.string().meta({ description: "Shown in this answer only" }) }))
  .meta({ id: "NewTenantKey" });

const idParams = z.object({ id: z.string().regex(KEY_ID, "not a key id") }).strict();

const refusals = {
  401: problem("No session, or an invalid, expired or revoked one"),
  403: problem("Origin not allowed, CSRF token missing or wrong, not a tenant admin, or not a session"),
  429: problem("Too many requests"),
  503: problem("Registry, session state or database unavailable"),
};

const listKeys = createRoute({
  method: "get",
  path: "/tenant/keys",
  operationId: "listTenantKeys",
  tags: ["tenant keys"],
  summary: "The API keys of the signed-in tenant admin's tenant",
  security: SESSION_AND_CSRF,
  request: { query: z.object({}).strict() },
  responses: {
    200: {
      description: "Every key the tenant's admins created or an operator issued to it, newest first",
      content: { "application/json": { schema: z.object({ keys: z.array(TenantKeyView) }) } },
    },
    400: problem("Unknown parameters"),
    ...refusals,
  },
});

const createKey = createRoute({
  method: "post",
  path: "/tenant/keys",
  operationId: "createTenantKey",
  tags: ["tenant keys"],
  summary: "Create a key; it is in this answer only",
  security: SESSION_AND_CSRF,
  request: { body: { required: true, content: { "application/json": { schema: CreateKeyRequest } } } },
  responses: {
    201: { description: "The new key, shown once", content: { "application/json": { schema: NewTenantKey } } },
    400: problem("Invalid body"),
    409: problem("No signing secret configured"),
    413: problem("Body too large"),
    415: problem("Not JSON"),
    ...refusals,
  },
});

const rollKey = createRoute({
  method: "post",
  path: "/tenant/keys/{id}/roll",
  operationId: "rollTenantKey",
  tags: ["tenant keys"],
  summary: "Replace a key by one with the same scopes and limit; the old one works for a grace period",
  security: SESSION_AND_CSRF,
  request: {
    params: idParams,
    body: { required: true, content: { "application/json": { schema: RollKeyRequest } } },
  },
  responses: {
    201: { description: "The successor, shown once", content: { "application/json": { schema: NewTenantKey } } },
    400: problem("Invalid body or id"),
    404: problem("No such key in this tenant"),
    409: problem("The key is already rolled, revoked or expired, or an operator issued it"),
    413: problem("Body too large"),
    415: problem("Not JSON"),
    ...refusals,
  },
});

const revokeKey = createRoute({
  method: "post",
  path: "/tenant/keys/{id}/revoke",
  operationId: "revokeTenantKey",
  tags: ["tenant keys"],
  summary: "Revoke a key: refused everywhere within 60 s",
  security: SESSION_AND_CSRF,
  request: { params: idParams },
  responses: {
    200: { description: "Revoked", content: { "application/json": { schema: TenantKeyView } } },
    400: problem("Invalid id"),
    404: problem("No such key in this tenant"),
    ...refusals,
  },
});

export interface TenantKeyRoutesDeps {
  sessions: SessionCookie;
  apiKeys: ApiKeyVerifier;
  /** The user's role and tenant as the database holds them now, with the tenant's key ceiling. */
  findManager: (subject: string) => Promise<KeyManager | undefined>;
  /** The tenant's own TenantKeys object. */
  catalog: (tenant: string) => DurableObjectStub<TenantKeys>;
  /** Where every issued id is registered, so ids stay unique across tenants and operators; lists an operator's keys. */
  registry: () => DurableObjectStub<KeyRegistry>;
  /** The tenant's revocations in force, as this isolate holds them: whether an operator's key is revoked. */
  revocations: (c: Context<AppEnv>, tenant: string) => Promise<RevocationSet>;
  /** Puts a key id on its tenant's revocation list and this isolate's copy (src/keys/revoke.ts). */
  revoke: (tenant: string, keyId: string) => Promise<Revocation>;
  /** Key id → epoch ms of the minute it was last used, merged over the usage objects. */
  lastUsed: () => Promise<Record<string, number>>;
  /** Epoch ms. */
  clock: () => number;
}

const iso = (epochMs: number) => new Date(epochMs).toISOString();
/** Requests per millisecond: how two rates in different units compare. */
const rateOf = (notation: string) => {
  const { limit, windowMs } = parseRateNotation(notation);
  return limit / windowMs;
};

function view(key: TenantKey, nowMs: number, lastUsedMs: number | undefined) {
  const state =
    key.revokedAtMs !== undefined
      ? "revoked"
      : key.graceEndsAtMs !== undefined
        ? "rolling"
        : key.expiresAtMs <= nowMs
          ? "expired"
          : "active";
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    rate_limit: key.rateLimit,
    created_at: iso(key.createdAtMs),
    expires_at: iso(key.expiresAtMs),
    last_used_at: lastUsedMs === undefined ? null : iso(lastUsedMs),
    state,
    refused_from: key.graceEndsAtMs === undefined ? null : iso(key.graceEndsAtMs),
    rolled_from: key.rolledFrom ?? null,
    revoked_reason: key.revokedReason ?? null,
    issued_by: "tenant",
  } as const;
}

/** An operator's key as the tenant sees it: named by its id, no expiry, revoked only through the list. */
function operatorView(
  key: IssuedKey,
  revoked: RevocationSet,
  note: { revokedAtMs: number; reason: string } | undefined,
  lastUsedMs: number | undefined,
) {
  const isRevoked =
    note !== undefined ||
    revoked.keyRevoked({ id: key.id, tenant: key.tenant, issuedAtSeconds: key.createdAtMs / 1000 });
  return {
    id: key.id,
    name: key.id,
    scopes: key.scopes,
    rate_limit: key.rateLimit ?? null,
    created_at: iso(key.createdAtMs),
    expires_at: null,
    last_used_at: lastUsedMs === undefined ? null : iso(lastUsedMs),
    state: isRevoked ? "revoked" : "active",
    refused_from: null,
    rolled_from: null,
    revoked_reason: note?.reason ?? null,
    issued_by: "operator",
  } as const;
}

export function createTenantKeyRoutes(deps: TenantKeyRoutesDeps) {
  const { sessions, apiKeys, findManager, catalog, registry, revocations, revoke, lastUsed, clock } = deps;
  const record = (
    c: Context<AppEnv>,
    action: string,
    outcome: "success" | "refused",
    subject: string,
    reason?: string,
  ) =>
    audit({
      action: `tenant.keys.${action}`,
      outcome,
      subject,
      ...(reason === undefined ? {} : { reason }),
      requestId: c.get("requestId"),
      ...auditClient(c),
    });

  /** The session alone: with a bearer token or an API key, whoever holds a leaked credential could mint keys. */
  const sessionOnly: MiddlewareHandler<AppEnv> = async function sessionOnly(c, next) {
    if (c.req.header("authorization") !== undefined || c.req.header("x-api-key") !== undefined) {
      record(c, "access", "refused", c.req.path, "session-required");
      throw new AppError({
        status: 403,
        code: "session-required",
        title: "Forbidden",
        detail: "Keys are managed from the dashboard's session only.",
      });
    }
    const session = await sessions.authenticate(c, { csrf: true });
    c.set("principal", { kind: "user", subject: session.subject, tenant: session.tenant, role: session.role });
    await next();
  };

  /** The role the session claims, confirmed by the database now: a demoted admin is refused at once. */
  const currentManager = async (c: Context<AppEnv>): Promise<KeyManager> => {
    const principal = c.get("principal");
    const manager = await findManager(principal.subject);
    if (manager?.tenant !== principal.tenant || manager.role !== "tenant_admin") {
      record(c, "access", "refused", principal.subject, "not-tenant-admin");
      throw new AppError({
        status: 403,
        code: "insufficient-scope",
        title: "Forbidden",
        detail: "Your role does not grant the scope this route needs (one of: keys:manage).",
      });
    }
    return manager;
  };

  const withinCeiling = (manager: KeyManager, scopes: readonly ApiKeyScope[], rateLimit: string) => {
    const beyond = scopes.filter((scope) => !manager.keyScopes.includes(scope));
    if (beyond.length > 0 || rateOf(rateLimit) > rateOf(manager.keyRateCeiling)) {
      throw new AppError({
        status: 403,
        code: "beyond-tenant-ceiling",
        title: "Beyond the tenant's plan",
        detail: `Keys of this tenant may carry ${manager.keyScopes.join(", ")} and at most ${manager.keyRateCeiling}.`,
      });
    }
  };

  /** The tenant's key `id` that an operator issued, if there is one (the catalog holds the tenant's own). */
  const operatorKey = async (tenant: string, id: string) =>
    (await registry().keysOf(tenant)).find((key) => key.id === id);

  const unknownKey = (c: Context<AppEnv>, action: string, subject: string) => {
    record(c, action, "refused", subject, "unknown-key");
    return new AppError({
      status: 404,
      code: "unknown-key",
      title: "Unknown key",
      detail: "This tenant has no key with this id.",
    });
  };

  const signingKid = () => {
    if (apiKeys.signingKid === undefined) {
      throw new AppError({
        status: 409,
        code: "signing-not-configured",
        title: "Cannot issue keys",
        detail: "The service has no signing secret for API keys.",
      });
    }
    return apiKeys.signingKid;
  };

  /** Registers, records and signs a new key of the tenant. */
  const issue = async (
    manager: KeyManager,
    fields: { name: string; scopes: ApiKeyScope[]; rateLimit: string; lifetimeMs: number; rolledFrom?: string },
  ) => {
    const kid = signingKid();
    const issuedAtSeconds = Math.floor(clock() / 1000);
    const createdAtMs = issuedAtSeconds * 1000;
    const expiresAtSeconds = Math.floor((createdAtMs + fields.lifetimeMs) / 1000);
    const id = `tk-${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
    const { tenant } = manager;
    // 64 random bits: a collision is not expected, and register refuses one rather than reuse an id.
    if (
      !(await registry().register({ id, tenant, scopes: fields.scopes, rateLimit: fields.rateLimit, kid, createdAtMs }))
    )
      throw new Error("generated key id already issued");
    const key: TenantKey = {
      id,
      tenant,
      name: fields.name,
      scopes: fields.scopes,
      rateLimit: fields.rateLimit,
      createdAtMs,
      expiresAtMs: expiresAtSeconds * 1000,
      ...(fields.rolledFrom === undefined ? {} : { rolledFrom: fields.rolledFrom }),
    };
    await catalog(tenant).add(key);
    const secret = await apiKeys.issue(
      { id, tenant, scopes: fields.scopes, rateLimit: fields.rateLimit, expiresAtSeconds },
      issuedAtSeconds,
    );
    return { secret, key };
  };

  const manageScope = requireScope({ anyOf: ["keys:manage"] });
  /** requireScope, with its refusal audited as the other decisions here are. */
  const keysManage: MiddlewareHandler<AppEnv> = async function keysManage(c, next) {
    let admitted = false;
    try {
      await manageScope(c, async () => {
        admitted = true;
        await next();
      });
    } catch (error) {
      if (!admitted) record(c, "access", "refused", c.get("principal").subject, "not-tenant-admin");
      throw error;
    }
  };

  const router = createRouter();
  router.use("/tenant/*", sessionOnly, keysManage);
  router.on("POST", ["/tenant/keys", "/tenant/keys/:id/roll"], jsonBody({ maxBytes: KEY_BODY_MAX_BYTES }));

  return router
    .openapi(listKeys, async (c) => {
      const manager = await currentManager(c);
      const tenantCatalog = catalog(manager.tenant);
      const [keys, issued, notes, revoked, lastUsedMs] = await Promise.all([
        tenantCatalog.list(),
        registry().keysOf(manager.tenant),
        tenantCatalog.revocationNotes(),
        revocations(c, manager.tenant),
        lastUsed(),
      ]);
      const nowMs = clock();
      const own = new Set(keys.map((key) => key.id));
      const listed = [
        ...keys.map((key) => view(key, nowMs, lastUsedMs[key.id])),
        ...issued
          .filter((key) => !own.has(key.id))
          .map((key) => operatorView(key, revoked, notes[key.id], lastUsedMs[key.id])),
      ].sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id));
      record(c, "list", "success", manager.tenant);
      return c.json({ keys: listed }, 200);
    })
    .openapi(createKey, async (c) => {
      const manager = await currentManager(c);
      const request = c.req.valid("json");
      const rateLimit = request.rate_limit ?? manager.keyRateCeiling;
      try {
        withinCeiling(manager, request.scopes, rateLimit);
      } catch (error) {
        record(c, "create", "refused", manager.tenant, "beyond-tenant-ceiling");
        throw error;
      }
      const { secret, key } = await issue(manager, {
        name: request.name,
        scopes: request.scopes,
        rateLimit,
        lifetimeMs: request.expires_in_days * DAY_MS,
      });
      record(c, "create", "success", `${manager.tenant}/${key.id}`);
      return c.json({ ...view(key, clock(), undefined), key: secret }, 201);
    })
    .openapi(rollKey, async (c) => {
      const manager = await currentManager(c);
      const { id } = c.req.valid("param");
      const { grace_seconds: graceSeconds } = c.req.valid("json");
      const tenantCatalog = catalog(manager.tenant);
      const old = await tenantCatalog.get(id);
      if (old === undefined) {
        if ((await operatorKey(manager.tenant, id)) === undefined)
          throw unknownKey(c, "roll", `${manager.tenant}/${id}`);
        record(c, "roll", "refused", `${manager.tenant}/${id}`, "operator-key");
        throw new AppError({
          status: 409,
          code: "operator-key",
          title: "Issued by the operator",
          detail:
            "An operator's key can be revoked here, not rolled: create a key of the tenant's own and revoke this one.",
        });
      }
      // Before the grace period starts: a predecessor must never be on its way out without a successor.
      signingKid();
      const nowMs = clock();
      if (old.expiresAtMs <= nowMs || !(await tenantCatalog.startGrace(id, nowMs + graceSeconds * 1000))) {
        record(c, "roll", "refused", `${manager.tenant}/${id}`, "key-not-active");
        throw new AppError({
          status: 409,
          code: "key-not-active",
          title: "Key not active",
          detail: "Only an active key can be rolled; this one is already rolled, revoked or expired.",
        });
      }
      if (graceSeconds === 0) {
        await revoke(manager.tenant, id);
        await tenantCatalog.noteRevoked(id, nowMs, "rolled");
      }
      // The successor inherits what the predecessor was given, and as long a life from now.
      const { secret, key } = await issue(manager, {
        name: old.name,
        scopes: old.scopes,
        rateLimit: old.rateLimit,
        lifetimeMs: old.expiresAtMs - old.createdAtMs,
        rolledFrom: id,
      });
      record(c, "roll", "success", `${manager.tenant}/${id}`);
      return c.json({ ...view(key, clock(), undefined), key: secret }, 201);
    })
    .openapi(revokeKey, async (c) => {
      const manager = await currentManager(c);
      const { id } = c.req.valid("param");
      const tenantCatalog = catalog(manager.tenant);
      const held = await tenantCatalog.get(id);
      const nowMs = clock();
      if (held === undefined) {
        const issued = await operatorKey(manager.tenant, id);
        if (issued === undefined) throw unknownKey(c, "revoke", `${manager.tenant}/${id}`);
        // Both idempotent: a key id is revoked once, and the first reason noted stays.
        await revoke(manager.tenant, id);
        await tenantCatalog.noteRevoked(id, nowMs, `revoked by ${manager.username}`);
        record(c, "revoke", "success", `${manager.tenant}/${id}`);
        const notes = await tenantCatalog.revocationNotes();
        return c.json(
          operatorView(issued, await revocations(c, manager.tenant), notes[id], (await lastUsed())[id]),
          200,
        );
      }
      if (held.revokedAtMs === undefined) {
        await revoke(manager.tenant, id);
        await tenantCatalog.noteRevoked(id, nowMs, `revoked by ${manager.username}`);
      }
      record(c, "revoke", "success", `${manager.tenant}/${id}`);
      const revoked = (await tenantCatalog.get(id)) ?? held;
      return c.json(view(revoked, nowMs, (await lastUsed())[id]), 200);
    });
}
