/** Who is calling, once authenticated; the tenant scopes every query made for them. */
import type { ApiKeyScope } from "./api-keys.ts";
import type { UserRole } from "./roles.ts";

export type Principal =
  | { kind: "user"; subject: string; tenant: string; role: UserRole }
  | { kind: "api-key"; subject: string; tenant: string; scopes: readonly ApiKeyScope[]; rateLimit?: string };
