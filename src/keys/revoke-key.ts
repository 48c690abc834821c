/**
 * How a TenantKeys object revokes a rolled key at the end of its grace period: into the tenant's
 * own revocation list (registry.ts), which every isolate reads within its copies' bound. Requests
 * revoke through the isolate's Revoker (revoke.ts), which also updates its own copy; an object has
 * no copy to update.
 */
import { type KeyRegistry, revocationShard } from "./registry.ts";
import type { Revocation } from "./revocations.ts";

export function revokeKeyId(
  namespace: DurableObjectNamespace<KeyRegistry>,
  tenant: string,
  keyId: string,
  revokedAtMs: number,
): Promise<Revocation> {
  return revocationShard(namespace, tenant).revoke("key", keyId, revokedAtMs);
}
