import { afterEach, describe, expect, it, vi } from "vitest";
import { type ApiKeyClaims, createApiKeyVerifier, SCANNABLE_KEY_PATTERN, signApiKey } from "../../src/auth/api-keys.ts";
import { crc32, keyChecksum } from "../../src/auth/key-checksum.ts";
import { TEST_SIGNING_SECRETS } from "../support/constants.ts";
import { signSfk2Key } from "../support/sfk2-keys.ts";

const { current, previous } = TEST_SIGNING_SECRETS;
const ISSUED_AT = 1_790_000_000;
const CLAIMS = { id: "scan-etl", tenant: "scan-tenant", scopes: ["streams:read"], rateLimit: "100/minute" } as const;
const verifier = createApiKeyVerifier({ signingSecrets: [current, previous], clock: () => ISSUED_AT * 1000 });
const PUBLISHED = new RegExp(`^${SCANNABLE_KEY_PATTERN}$`);
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_CHARS = `${BASE62}_-`;

/** What a scanner does with a match: recompute the checksum of everything before its last `_`. */
const checksumHolds = (key: string) => keyChecksum(key.slice(0, -7)) === key.slice(-6);

/** A deterministic stream of 32-bit numbers (xorshift32), so the million strings are the same every run. */
function xorshift(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

describe("scannable API keys (sfk3)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("computes the standard CRC32 (IEEE) that scanners compute", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32("")).toBe(0);
    expect(keyChecksum("123456789")).toMatch(/^[0-9A-Za-z]{6}$/);
  });

  it("issues keys that match the published pattern, carry their checksum and verify to their claims", async () => {
    const random = xorshift(0x5eed);
    for (let index = 0; index < 200; index++) {
      const claims: Omit<ApiKeyClaims, "issuedAtSeconds"> = {
        id: `scan-${index}-${"x".repeat(random() % 20)}`,
        tenant: `t${"e".repeat(1 + (random() % 39))}`,
        scopes: random() % 2 ? ["metrics:read", "streams:read"] : ["streams:read"],
        ...(random() % 2 ? { rateLimit: `${1 + (random() % 9_999_999)}/minute` } : {}),
        ...(random() % 2 ? { expiresAtSeconds: ISSUED_AT + 1 + (random() % 31_622_400) } : {}),
      };
      const key = await verifier.issue(claims, ISSUED_AT);
      expect(key).toMatch(PUBLISHED);
      expect(key.startsWith(`sfk3_${current.kid}_`)).toBe(true);
      expect(checksumHolds(key)).toBe(true);
      expect(await verifier.verify(key)).toEqual({ ...claims, issuedAtSeconds: ISSUED_AT });
    }
  });

  it("lets no one of 1,000,000 random strings of the published shape pass the checksum", () => {
    const random = xorshift(0xc0ffee);
    // sfk3_k1_ + 60 claims characters + _ + 43 MAC characters + _ + 6 checksum characters.
    const shape = `sfk3_k1_${"c".repeat(60)}_${"m".repeat(43)}_${"s".repeat(6)}`;
    const keyCodes = [...KEY_CHARS].map((char) => char.charCodeAt(0));
    const base62Codes = [...BASE62].map((char) => char.charCodeAt(0));
    const codes = [...shape].map((char) => char.charCodeAt(0));
    let passed = 0;
    for (let index = 0; index < 1_000_000; index++) {
      for (let position = 8; position < codes.length; position++) {
        const kind = shape[position];
        if (kind === "c" || kind === "m") codes[position] = keyCodes[random() % keyCodes.length]!;
        else if (kind === "s") codes[position] = base62Codes[random() % base62Codes.length]!;
      }
      if (checksumHolds(String.fromCharCode(...codes))) passed++;
    }
    expect(passed).toBe(0);
  }, 60_000);

  it("verifies a genuine key with one HMAC, and the same key again with none", async () => {
    const key = await signApiKey(CLAIMS, ISSUED_AT, current);
    const fresh = createApiKeyVerifier({ signingSecrets: [current], clock: () => ISSUED_AT * 1000 });
    await fresh.verify(await signApiKey({ ...CLAIMS, id: "warm-up" }, ISSUED_AT, current));
    const sign = vi.spyOn(crypto.subtle, "sign");
    expect((await fresh.verify(key))?.id).toBe("scan-etl");
    expect(sign).toHaveBeenCalledTimes(1);
    expect(await fresh.verify(key)).toEqual({ ...CLAIMS, issuedAtSeconds: ISSUED_AT });
    expect(sign).toHaveBeenCalledTimes(1);
  });

  it("checks a refused key in full every time: only genuine keys are remembered", async () => {
    const key = await signApiKey(CLAIMS, ISSUED_AT, current);
    // One MAC character changed and the checksum recomputed: only the HMAC can refuse it.
    const body = `${key.slice(0, -14)}${key.at(-14) === "A" ? "B" : "A"}${key.slice(-13, -7)}`;
    const presented = `${body}_${keyChecksum(body)}`;
    await verifier.verify(key);
    const sign = vi.spyOn(crypto.subtle, "sign");
    expect(await verifier.verify(presented)).toBeUndefined();
    expect(await verifier.verify(presented)).toBeUndefined();
    expect(sign).toHaveBeenCalledTimes(2);
  });

  it("with its memory off, checks every presentation of a key with its HMAC", async () => {
    const key = await signApiKey(CLAIMS, ISSUED_AT, current);
    const forgetful = createApiKeyVerifier({
      signingSecrets: [current],
      clock: () => ISSUED_AT * 1000,
      rememberedKeys: 0,
    });
    await forgetful.verify(key);
    const sign = vi.spyOn(crypto.subtle, "sign");
    expect((await forgetful.verify(key))?.id).toBe("scan-etl");
    expect((await forgetful.verify(key))?.id).toBe("scan-etl");
    expect(sign).toHaveBeenCalledTimes(2);
  });

  it("remembers at most 1,024 keys: a full memory starts over", async () => {
    const fresh = createApiKeyVerifier({ signingSecrets: [current], clock: () => ISSUED_AT * 1000 });
    const keys = await Promise.all(
      Array.from({ length: 1_025 }, (_, index) => signApiKey({ ...CLAIMS, id: `key-${index}` }, ISSUED_AT, current)),
    );
    for (const key of keys.slice(0, 1_024)) await fresh.verify(key);
    const sign = vi.spyOn(crypto.subtle, "sign");
    await fresh.verify(keys[0]!);
    expect(sign).toHaveBeenCalledTimes(0);
    await fresh.verify(keys[1_024]!);
    await fresh.verify(keys[0]!);
    expect(sign).toHaveBeenCalledTimes(2);
  });

  it.each([
    ["a checksum off by one character", (key: string) => `${key.slice(0, -1)}${key.at(-1) === "A" ? "B" : "A"}`],
    ["a claims character changed", (key: string) => key.replace("_ey", "_eY")],
    [
      "a MAC character changed",
      (key: string) => `${key.slice(0, -9)}${key.at(-9) === "A" ? "B" : "A"}${key.slice(-8)}`,
    ],
    ["truncated by one character", (key: string) => key.slice(0, -1)],
    ["its checksum missing", (key: string) => key.slice(0, -7)],
    ["extended by one character", (key: string) => `${key}A`],
    ["a character outside the alphabet", (key: string) => key.replace("_ey", "_e.")],
    ["trailing whitespace", (key: string) => `${key} `],
    ["the prefix upper-cased", (key: string) => key.replace("sfk3_", "SFK3_")],
  ])("refuses a key with %s before any MAC", async (_label, mangle) => {
    const key = await signApiKey(CLAIMS, ISSUED_AT, current);
    await verifier.verify(key);
    const sign = vi.spyOn(crypto.subtle, "sign");
    expect(await verifier.verify(mangle(key))).toBeUndefined();
    expect(sign).not.toHaveBeenCalled();
  });

  it("refuses a key whose claims were rewritten with the checksum recomputed: the MAC fails", async () => {
    const key = await signApiKey(CLAIMS, ISSUED_AT, current);
    const [, kid, claimsText, mac] = /^sfk3_([^_]+)_(.+)_(.{43})_.{6}$/.exec(key) as unknown as string[];
    const claims = JSON.parse(atob(claimsText!.replaceAll("-", "+").replaceAll("_", "/"))) as Record<string, unknown>;
    const rewritten = btoa(JSON.stringify({ ...claims, s: ["metrics:read", "streams:read"] }))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replace(/=+$/, "");
    const body = `sfk3_${kid}_${rewritten}_${mac}`;
    expect(checksumHolds(`${body}_${keyChecksum(body)}`)).toBe(true);
    expect(await verifier.verify(`${body}_${keyChecksum(body)}`)).toBeUndefined();
  });

  it("refuses a key from its expiry on, and accepts it until then", async () => {
    const key = await signApiKey({ ...CLAIMS, expiresAtSeconds: ISSUED_AT + 60 }, ISSUED_AT, current);
    const at = (seconds: number) => createApiKeyVerifier({ signingSecrets: [current], clock: () => seconds * 1000 });
    expect((await at(ISSUED_AT + 59).verify(key))?.expiresAtSeconds).toBe(ISSUED_AT + 60);
    expect(await at(ISSUED_AT + 60).verify(key)).toBeUndefined();
  });

  it("refuses a key it verified before once the key expires", async () => {
    const key = await signApiKey({ ...CLAIMS, expiresAtSeconds: ISSUED_AT + 60 }, ISSUED_AT, current);
    let nowSeconds = ISSUED_AT + 59;
    const remembering = createApiKeyVerifier({ signingSecrets: [current], clock: () => nowSeconds * 1000 });
    expect((await remembering.verify(key))?.id).toBe("scan-etl");
    nowSeconds = ISSUED_AT + 60;
    expect(await remembering.verify(key)).toBeUndefined();
  });

  it("keeps accepting the sfk2 keys issued before, which carry no checksum", async () => {
    const key = await signSfk2Key(CLAIMS, ISSUED_AT, previous);
    expect(await verifier.verify(key)).toEqual({ ...CLAIMS, issuedAtSeconds: ISSUED_AT });
  });
});
