import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyRegistry } from "../../src/keys/registry.ts";
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
    const registry = keyRegistry(env.KEY_REGISTRY);
    const { seq: before } = await registry.revocationsSince(Number.MAX_SAFE_INTEGER);
    const first = await registry.revoke("key", uniqueName("seq-one"), 1_000);
    const second = await registry.revoke("tenant-keys", uniqueName("seq-two"), 2_000);
    expect(first.seq).toBeGreaterThan(before);
    const batch = await registry.revocationsSince(first.seq);
    expect(batch).toEqual({ seq: second.seq, entries: [second] });
    expect(await registry.revocationsSince(second.seq)).toEqual({ seq: second.seq, entries: [] });
  });

  it("issues an id once, ever", async () => {
    const registry = keyRegistry(env.KEY_REGISTRY);
    const key = { id: uniqueName("once"), tenant: "acme", scopes: ["metrics:read" as const], kid: "t2", createdAtMs: 1_000 };
    expect(await registry.register(key)).toBe(true);
    expect(await registry.register({ ...key, tenant: "globex" })).toBe(false);
    expect((await registry.snapshot()).keys.filter((listed) => listed.id === key.id)).toEqual([key]);
  });

  it("keeps a session revocation only as long as a session it names can live, and every other kind for good", async () => {
    const registry = keyRegistry(env.KEY_REGISTRY);
    const old = await registry.revokeSession(uniqueName("old-session"), 1_000, 5_000);
    const key = await registry.revoke("key", uniqueName("old-key"), 1_000);
    const recent = await registry.revokeSession(uniqueName("new-session"), 10_000, 5_000);
    expect((await registry.revocationsSince(old.seq - 1)).entries).toEqual([key, recent]);
    // The key listing's copy leaves sessions out.
    const listed = (await registry.snapshot()).revocations;
    expect(listed).toContainEqual(key);
    expect(listed.filter((revocation) => revocation.kind === "session")).toEqual([]);
  });
});

