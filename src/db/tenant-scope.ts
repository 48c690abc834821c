/**
 * The token that opens one tenant's rows to the metrics role. Row-level security trusts only a
 * scope made with TENANT_SCOPE_KEY (sql/migrations/0003_tenant_scope_mac.sql verifies it), so a
 * session holding the metrics role's DATABASE_URL, or an injected statement, cannot name another
 * tenant: it lacks the key. The token binds the tenant to a short expiry, so one that leaks into a
 * log opens nothing for long. Computed with WebCrypto's HMAC-SHA256, as pgcrypto's `hmac()`.
 */
import type { Query } from "./client.ts";

/** The database refuses tokens that claim to live longer than this (migration 0003). */
const DATABASE_MAX_LIFETIME_SECONDS = 300;

export interface TenantScopeOptions {
  /** TENANT_SCOPE_KEY: the same bytes the operator installed in `tenant_scope_key`. */
  key: string;
  /**
   * How long a token stays valid. Long enough to cover clock skew between the worker and the
   * database plus one transaction; short, so a leaked token is worthless soon. Default 60.
   */
  lifetimeSeconds?: number;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
}

/** The statement that opens a transaction to `tenant`; the first of every tenant-scoped batch. */
export type TenantScope = (tenant: string) => Promise<Query<void>>;

const encoder = new TextEncoder();

const toHex = (bytes: ArrayBuffer) =>
  Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, "0")).join("");

/** @example const scope = tenantScope({ key: config.TENANT_SCOPE_KEY }); database.read(queries, { tenant }) */
export function tenantScope({ key, lifetimeSeconds = 60, clock = Date.now }: TenantScopeOptions): TenantScope {
  if (encoder.encode(key).length < 32) throw new Error("the tenant scope key must be at least 32 bytes");
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > DATABASE_MAX_LIFETIME_SECONDS) {
    throw new Error(`lifetimeSeconds must be an integer from 1 to ${DATABASE_MAX_LIFETIME_SECONDS}`);
  }
  const hmacKey = crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return async function scopeStatement(tenant) {
    const expiresAt = Math.floor(clock() / 1000) + lifetimeSeconds;
    const mac = toHex(await crypto.subtle.sign("HMAC", await hmacKey, encoder.encode(`${expiresAt}:${tenant}`)));
    return {
      text: "select app_set_tenant_scope($1, $2, $3)",
      params: [tenant, expiresAt, mac],
      decode: () => undefined,
    };
  };
}
