/**
 * Writing a revocation: into the object of the tenant it belongs to (registry.ts), then into this
 * isolate's copy of that tenant's list, so it holds here from the next request on and everywhere
 * within the copies' bound (revocations.ts). Admin routes and anything else that revokes (a leaked
 * key reported by its tenant) go through here, so a revocation can never land in a list nobody
 * reads. The caller names the tenant: a key's is in its claims (signed keys), the issued-key record
 * (registry.ts `tenantOfKey`) or API_KEYS (legacy keys); a user's is the database's.
 */
import type { KeyRegistry } from "./registry.ts";
import type { Revocation, RevocationCache, RevocationKind } from "./revocations.ts";
import { stateUnavailable, withTimeout } from "./timeout.ts";

export interface RevokerOptions {
  /** The object holding a tenant's revocations (`revocationShard` in registry.ts). */
  shard: (tenant: string) => DurableObjectStub<KeyRegistry>;
  /** This isolate's copies, told at once. */
  revocations: RevocationCache;
  /** Epoch ms: the revocation's time, which tokens and tenant-wide revocations compare against. */
  clock: () => number;
  /** How long a revocation waits for the tenant's object. Default 2,000. */
  timeoutMs?: number;
}

export interface Revoker {
  /** Refuses one key for good, everywhere within the copies' bound. */
  revokeKey(tenant: string, keyId: string): Promise<Revocation>;
  /**
   * Any kind: "key" names a key id, "user" a user name as the database spells it, "tenant-keys"
   * and "tenant-tokens" the tenant itself.
   */
  revoke(tenant: string, kind: RevocationKind, subject: string): Promise<Revocation>;
}

/** @example const revoker = createRevoker({ shard: (tenant) => revocationShard(ns, tenant), revocations, clock }); await revoker.revokeKey("acme", "acme-ci") */
export function createRevoker(options: RevokerOptions): Revoker {
  const { shard, revocations, clock } = options;
  const timeoutMs = options.timeoutMs ?? 2_000;

  const revoke: Revoker["revoke"] = async (tenant, kind, subject) => {
    let revocation: Revocation;
    try {
      revocation = await withTimeout(shard(tenant).revoke(kind, subject, clock()), timeoutMs);
    } catch (error) {
      throw stateUnavailable({
        event: "revocation_write_unavailable",
        code: "revocation-list-unavailable",
        detail: "The revocation could not be recorded. Try again shortly.",
        error,
      });
    }
    revocations.applyLocally(tenant, revocation);
    return revocation;
  };
  return { revoke, revokeKey: (tenant, keyId) => revoke(tenant, "key", keyId) };
}
