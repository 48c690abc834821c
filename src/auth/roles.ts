/**
 * What a signed-in user may do, by role (least privilege, OWASP ASVS V8.2): an analyst reads the
 * tenant's metrics and streams; a tenant admin also manages the tenant's API keys. A role is
 * granted in the database (users.role) and carried in access tokens and sessions; a credential
 * without one, or with one this version does not know, is an analyst's.
 */
import type { ApiKeyScope } from "./api-keys.ts";

export const USER_ROLES = ["analyst", "tenant_admin"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** Scopes only a user can hold: no API key is ever issued with one (API_KEY_SCOPES does not list it). */
export type UserOnlyScope = "keys:manage";
export type Scope = ApiKeyScope | UserOnlyScope;
export const SCOPES: readonly Scope[] = ["metrics:read", "streams:read", "keys:manage"];

const ROLE_SCOPES: Record<UserRole, readonly Scope[]> = {
  analyst: ["metrics:read", "streams:read"],
  tenant_admin: ["metrics:read", "streams:read", "keys:manage"],
};

/** The role a claim names, or analyst's for anything else. */
export function roleOf(claim: unknown): UserRole {
  return claim === "tenant_admin" ? "tenant_admin" : "analyst";
}

export function roleScopes(role: UserRole): readonly Scope[] {
  return ROLE_SCOPES[role];
}
