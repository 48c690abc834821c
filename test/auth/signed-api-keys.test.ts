import { describe, expect, it } from "vitest";
import { type ApiKeyClaims, createApiKeyVerifier } from "../../src/auth/api-keys.ts";
import { fromBase64Url, toBase64Url } from "../../src/auth/base64url.ts";
import { timingSafeEqualBytes } from "../../src/auth/digest.ts";
import { TEST_SIGNING_SECRETS } from "../support/constants.ts";
import { signSfk2Key } from "../support/sfk2-keys.ts";

const { current, previous, retired } = TEST_SIGNING_SECRETS;
const verifier = createApiKeyVerifier({ signingSecrets: [current, previous] });
const CLAIMS = { id: "acme-etl", tenant: "acme", scopes: ["streams:read"], rateLimit: "100/minute" } as const;
const ISSUED_AT = 1_790_000_000;
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The key with its claims replaced, keeping the original MAC: what an attacker can make without the secret. */
function withClaims(key: string, change: (claims: Record<string, unknown>) => void): string {
  const [prefix, kid, claimsText, mac] = key.split(".") as [string, string, string, string];
  const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(claimsText))) as Record<string, unknown>;
  change(claims);
  return [prefix, kid, toBase64Url(new TextEncoder().encode(JSON.stringify(claims))), mac].join(".");
}

describe("signed API keys issued before the scannable format (sfk2)", () => {
  it("verify without a lookup and carry their tenant, scopes, rate limit and issue time", async () => {
    const key = await signSfk2Key(CLAIMS, ISSUED_AT, current);
    expect(key).toMatch(/^sfk2\.t2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await verifier.verify(key)).toEqual({ ...CLAIMS, issuedAtSeconds: ISSUED_AT } satisfies ApiKeyClaims);
  });

  it("keep working under the previous signing secret while it is listed (rotation overlap)", async () => {
    const key = await signSfk2Key(CLAIMS, ISSUED_AT, previous);
    expect((await verifier.verify(key))?.id).toBe("acme-etl");
    expect(await createApiKeyVerifier({ signingSecrets: [current] }).verify(key)).toBeUndefined();
  });

  it.each([
    [
      "its tenant changed",
      (claims: Record<string, unknown>) => {
        claims.t = "globex";
      },
    ],
    [
      "a scope added",
      (claims: Record<string, unknown>) => {
        claims.s = ["streams:read", "metrics:read"];
      },
    ],
    [
      "its rate limit raised",
      (claims: Record<string, unknown>) => {
        claims.rl = "1000000/second";
      },
    ],
    ["its rate limit removed", (claims: Record<string, unknown>) => void delete claims.rl],
    [
      "its id changed",
      (claims: Record<string, unknown>) => {
        claims.id = "globex-etl";
      },
    ],
    [
      "its issue time moved",
      (claims: Record<string, unknown>) => {
        claims.iat = ISSUED_AT + 86_400;
      },
    ],
  ])("refuse a key with %s", async (_label, change) => {
    const key = await signSfk2Key(CLAIMS, ISSUED_AT, current);
    expect(await verifier.verify(withClaims(key, change))).toBeUndefined();
  });

  it("refuse a key signed under a retired secret, or under a listed kid with another secret", async () => {
    expect(await verifier.verify(await signSfk2Key(CLAIMS, ISSUED_AT, retired))).toBeUndefined();
    expect(
      await verifier.verify(await signSfk2Key(CLAIMS, ISSUED_AT, { kid: current.kid, secret: retired.secret })),
    ).toBeUndefined();
  });

  it("refuse a key moved to another kid", async () => {
    const key = await signSfk2Key(CLAIMS, ISSUED_AT, previous);
    expect(await verifier.verify(key.replace(".t1.", ".t2."))).toBeUndefined();
  });

  it.each([
    ["truncated by one character", (key: string) => key.slice(0, -1)],
    ["truncated to its claims", (key: string) => key.slice(0, key.lastIndexOf("."))],
    ["extended by one character", (key: string) => `${key}A`],
    ["extended by a segment", (key: string) => `${key}.AAAA`],
    // The last of 43 characters carries 4 bits and 2 zero bits: flipping a zero bit decodes to the same bytes.
    [
      "with a non-canonical last character (same MAC bytes)",
      (key: string) => key.slice(0, -1) + BASE64URL[BASE64URL.indexOf(key.at(-1)!) ^ 1],
    ],
    ["with trailing whitespace", (key: string) => `${key} `],
    ["in the legacy prefix", (key: string) => key.replace(/^sfk2\./, "sfk_")],
  ])("refuse a key %s", async (_label, mangle) => {
    const key = await signSfk2Key(CLAIMS, ISSUED_AT, current);
    expect(await verifier.verify(mangle(key))).toBeUndefined();
  });

  it("compare every MAC in full through the constant-time comparison, wherever it differs", async () => {
    const compared: [number, number][] = [];
    const spying = createApiKeyVerifier({
      signingSecrets: [current],
      timingSafeEqual: (a, b) => {
        compared.push([a.length, b.length]);
        return timingSafeEqualBytes(a, b);
      },
    });
    const key = await signSfk2Key(CLAIMS, ISSUED_AT, current);
    const flip = (index: number) => key.slice(0, index) + (key[index] === "A" ? "B" : "A") + key.slice(index + 1);
    const macStart = key.length - 43;
    expect(await spying.verify(key)).toBeDefined();
    expect(await spying.verify(flip(macStart))).toBeUndefined();
    expect(await spying.verify(flip(key.length - 2))).toBeUndefined();
    expect(compared).toEqual([
      [43, 43],
      [43, 43],
      [43, 43],
    ]);
  });

  it("refuse garbage without throwing", async () => {
    for (const presented of [
      "",
      "sfk2.",
      "sfk2.t2..",
      "sfk2.t2.e30.x",
      `sfk2.t2.${"A".repeat(5000)}.${"A".repeat(43)}`,
      "' OR 1=1 --",
    ]) {
      expect(await verifier.verify(presented)).toBeUndefined();
    }
  });
});
