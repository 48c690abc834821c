/**
 * The one place tenant key management revokes a key id. Today the revocation list is the
 * KeyRegistry's; when it is sharded per tenant, this function is what changes.
 */
import { type KeyRegistry, keyRegistry } from "./registry.ts";
import type { Revocation } from "./revocations.ts";

export function revokeKeyId(
  namespace: DurableObjectNamespace<KeyRegistry>,
  _tenant: string,
  keyId: string,
  revokedAtMs: number,
): Promise<Revocation> {
  return keyRegistry(namespace).revoke("key", keyId, revokedAtMs);
}
