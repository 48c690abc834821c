import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyRegistry, revocationShard } from "../../src/keys/registry.ts";
import { uniqueName } from "../support/isolate.ts";

describe("key registry object", () => {
  it("keeps the latest minute per key id, whatever order batches arrive in", async () => {
    const registry = keyRegistry(env.KEY_REGISTRY);
    const [a, b] = [uniqueName("usage-a"), uniqueName("usage-b")];
    await registry.recordUsage([
      [a, 180_000],
      [b, 60_000],
    ]);
    await registry.recordUsage([[a, 120_000]]);
    await registry.recordUsage([[b, 240_000]]);
    const { lastUsedMs } = await registry.snapshot();
    expect([lastUsedMs[a], lastUsedMs[b]]).toEqual([180_000, 240_000]);
  });

  it("hands out revocations by sequence number, only those after the one asked for", async () => {
    const registry = revocationShard(env.KEY_REGISTRY, uniqueName("tenant"));
    const { seq: before } = await registry.revocationsSince(Number.MAX_SAFE_INTEGER);
    const first = await registry.revoke("key", uniqueName("seq-one"), 1_000);
    const second = await registry.revoke("tenant-keys", uniqueName("seq-two"), 2_000);
    expect(first.seq).toBeGreaterThan(before);
    const batch = await registry.revocationsSince(first.seq);
    expect(batch).toEqual({ seq: second.seq, entries: [second], more: false });
    expect(await registry.revocationsSince(second.seq)).toEqual({ seq: second.seq, entries: [], more: false });
  });

  it("issues an id once, ever", async () => {
    const registry = keyRegistry(env.KEY_REGISTRY);
    const key = {
      id: uniqueName("once"),
      tenant: "acme",
      scopes: ["metrics:read" as const],
      kid: "t2",
      createdAtMs: 1_000,
    };
    expect(await registry.register(key)).toBe(true);
    expect(await registry.register({ ...key, tenant: "globex" })).toBe(false);
    expect((await registry.snapshot()).keys.filter((listed) => listed.id === key.id)).toEqual([key]);
    // A key id alone leads to the tenant whose list a revocation of it belongs in.
    expect(await registry.tenantOfKey(key.id)).toBe("acme");
    expect(await registry.tenantOfKey(uniqueName("never-issued"))).toBeNull();
  });

  it("keeps each tenant's revocations in an object of its own, so one tenant's list never reaches another's", async () => {
    const [tenantA, tenantB] = [uniqueName("tenant-a"), uniqueName("tenant-b")];
    const [listA, listB] = [revocationShard(env.KEY_REGISTRY, tenantA), revocationShard(env.KEY_REGISTRY, tenantB)];
    expect(listA.id.equals(listB.id)).toBe(false);
    expect(listA.id.equals(keyRegistry(env.KEY_REGISTRY).id)).toBe(false);
    const revoked = await listA.revoke("key", uniqueName("a-key"), 1_000);
    expect((await listA.revocationsSince(0)).entries).toEqual([revoked]);
    expect((await listB.revocationsSince(0)).entries).toEqual([]);
  });

  it("keeps one entry per revoked user however often it is revoked, so the list grows with users, not requests", async () => {
    const registry = revocationShard(env.KEY_REGISTRY, uniqueName("tenant"));
    const user = uniqueName("often_revoked").replace(/-/g, "_");
    const { seq: before } = await registry.revocationsSince(Number.MAX_SAFE_INTEGER);
    for (let i = 1; i <= 50; i++) await registry.revoke("user", user, i * 1_000);
    const added = await registry.revocationsSince(before);
    expect(added.entries).toEqual([{ seq: added.seq, kind: "user", subject: user, revokedAtMs: 50_000 }]);
    // An older revocation arriving late changes nothing.
    expect(await registry.revoke("user", user, 10_000)).toMatchObject({ seq: added.seq, revokedAtMs: 50_000 });
  });

  it("hands out the list in pages of at most 300 entries and under 64 KB, saying when more follow", async () => {
    const registry = revocationShard(env.KEY_REGISTRY, uniqueName("tenant"));
    const { seq: before } = await registry.revocationsSince(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 310; i++)
      await registry.revoke("key", `${"k".repeat(50)}-${uniqueName("page")}`.slice(0, 64), 1_000);
    const first = await registry.revocationsSince(before);
    expect(first.entries).toHaveLength(300);
    expect(first.more).toBe(true);
    expect(new TextEncoder().encode(JSON.stringify(first)).length).toBeLessThan(64 * 1024);
    const second = await registry.revocationsSince(first.seq);
    expect(second.entries).toHaveLength(10);
    expect(second.more).toBe(false);
  });
});
