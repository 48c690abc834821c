import { describe, expect, it } from "vitest";
import { apiKeysSchema, generateApiKey, matchApiKey } from "../../src/auth/api-keys.ts";
import { sha256, toHex } from "../../src/auth/digest.ts";

async function entriesFor(...keys: { id: string; key: string }[]) {
  return apiKeysSchema.parse(
    await Promise.all(
      keys.map(async ({ id, key }) => ({
        id,
        digest: toHex(await sha256(key)),
        tenant: "acme",
        scopes: ["metrics:read"],
      })),
    ),
  );
}

describe("API keys", () => {
  it("generates keys with a recognisable prefix, the id, and 256 bits of randomness", () => {
    const key = generateApiKey("ci-2026");
    expect(key).toMatch(/^sfk_ci-2026_[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey("ci-2026")).not.toBe(key);
    const randomPart = key.split("_").slice(2).join("_");
    expect(randomPart.length * 6).toBeGreaterThanOrEqual(256);
  });

  it("matches a key to its entry by digest, and nothing else", async () => {
    const current = { id: "ci-2026", key: generateApiKey("ci-2026") };
    const next = { id: "ci-2027", key: generateApiKey("ci-2027") };
    const entries = await entriesFor(current, next);
    expect((await matchApiKey(current.key, entries))?.id).toBe("ci-2026");
    expect((await matchApiKey(next.key, entries))?.id).toBe("ci-2027");
    expect(await matchApiKey(generateApiKey("ci-2026"), entries)).toBeUndefined();
    expect(await matchApiKey(next.key.replace("ci-2027", "ci-2026"), entries)).toBeUndefined();
  });

  it("refuses an API_KEYS secret with duplicate ids, bad digests or unknown fields", () => {
    const entry = { id: "ci-2026", digest: "a".repeat(64), tenant: "acme", scopes: ["metrics:read"] };
    expect(apiKeysSchema.safeParse([entry, entry]).success).toBe(false);
    expect(apiKeysSchema.safeParse([{ ...entry, digest: "A".repeat(64) }]).success).toBe(false);
    expect(apiKeysSchema.safeParse([{ ...entry, key: "sfk_plaintext" }]).success).toBe(false);
    expect(apiKeysSchema.safeParse([{ ...entry, rate_limit: "lots" }]).success).toBe(false);
    expect(apiKeysSchema.safeParse([{ ...entry, rate_limit: "1000/hour" }]).success).toBe(true);
  });
});
