/**
 * The comparison API keys, passwords and the admin credential rely on. Its timing cannot be
 * measured reliably in a test, so the test pins down what makes it constant-time: the platform's
 * `crypto.subtle.timingSafeEqual` gets both whole inputs, and every credential check goes through
 * it. A hand-written comparison (one that returns at the first differing byte among them) fails here.
 */
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApiKeyVerifier, generateApiKey, matchApiKey, signApiKey } from "../../src/auth/api-keys.ts";
import { fromHex, sha256, timingSafeEqualBytes, toHex } from "../../src/auth/digest.ts";
import { keyChecksum } from "../../src/auth/key-checksum.ts";
import { hashPassword, verifyPassword } from "../../src/auth/password.ts";
import type { AppEnv } from "../../src/env.ts";
import { onError } from "../../src/errors.ts";
import { adminCredential } from "../../src/middleware/admin-credential.ts";
import { TEST_ADMIN_SECRET, TEST_SIGNING_SECRETS } from "../support/constants.ts";

type PlatformSubtle = SubtleCrypto & { timingSafeEqual(a: ArrayBufferView, b: ArrayBufferView): boolean };

function spyOnPlatform() {
  return vi.spyOn(crypto.subtle as PlatformSubtle, "timingSafeEqual");
}

describe("constant-time comparison", () => {
  afterEach(() => vi.restoreAllMocks());

  it("hands both whole inputs to the platform's timingSafeEqual and returns its answer", () => {
    const platform = spyOnPlatform();
    const expected = Uint8Array.from({ length: 32 }, (_, index) => index);
    const differsFirst = expected.map((byte, index) => (index === 0 ? byte ^ 1 : byte));
    expect(timingSafeEqualBytes(expected, differsFirst)).toBe(false);
    expect(timingSafeEqualBytes(expected, Uint8Array.from(expected))).toBe(true);
    expect(platform).toHaveBeenCalledTimes(2);
    expect(platform.mock.calls[0]).toEqual([expected, differsFirst]);
  });

  it("calls inputs of different lengths unequal without asking the platform, which would throw", () => {
    const platform = spyOnPlatform();
    expect(timingSafeEqualBytes(new Uint8Array(32), new Uint8Array(31))).toBe(false);
    expect(timingSafeEqualBytes(new Uint8Array(0), new Uint8Array(1))).toBe(false);
    expect(platform).not.toHaveBeenCalled();
  });

  it("is what legacy API keys, signed API keys, passwords and the admin credential are checked with", async () => {
    const legacy = generateApiKey("digest-test");
    const entry = {
      id: "digest-test",
      tenant: "acme",
      scopes: ["metrics:read" as const],
      digest: toHex(await sha256(legacy)),
    };
    const signed = await signApiKey(
      { id: "digest-test", tenant: "acme", scopes: ["metrics:read"] },
      1_790_000_000,
      TEST_SIGNING_SECRETS.current,
    );
    const stored = await hashPassword("correct horse battery", "pepper-for-digest-tests-0123456789abcdef");
    const admin = new Hono<AppEnv>()
      .use(adminCredential({ secret: TEST_ADMIN_SECRET, clientIp: () => "192.0.2.1" }))
      .get("/admin/x", (c) => c.text("ok"));
    admin.onError(onError);

    const platform = spyOnPlatform();
    // Another last character than the random key's own: "A" alone was the same key once in 62 runs.
    const lastChanged = `${legacy.slice(0, -1)}${legacy.endsWith("A") ? "B" : "A"}`;
    expect(await matchApiKey(lastChanged, [{ ...entry, digestBytes: fromHex(entry.digest) }])).toBeUndefined();
    expect(platform).toHaveBeenCalledTimes(1);
    // A MAC character changed and the checksum recomputed, so the key gets as far as the MAC comparison.
    const macChanged = `${signed.slice(0, -8)}${signed.at(-8) === "A" ? "B" : "A"}`;
    expect(
      await createApiKeyVerifier({ signingSecrets: [TEST_SIGNING_SECRETS.current] }).verify(
        `${macChanged}_${keyChecksum(macChanged)}`,
      ),
    ).toBeUndefined();
    expect(platform).toHaveBeenCalledTimes(2);
    expect(await verifyPassword("correct horse batterz", "pepper-for-digest-tests-0123456789abcdef", stored)).toBe(
      false,
    );
    expect(platform).toHaveBeenCalledTimes(3);
    expect((await admin.request("/admin/x", { headers: { "X-Admin-Key": `${TEST_ADMIN_SECRET}x` } })).status).toBe(401);
    expect(platform).toHaveBeenCalledTimes(4);
  });
});
