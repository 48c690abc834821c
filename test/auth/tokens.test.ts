import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { CLOCK_LEEWAY_SECONDS, issueToken, verifyToken } from "../../src/auth/tokens.ts";
import { TEST_JWT_SIGNING_KEY } from "../support/constants.ts";

const SETTINGS = {
  signingKey: TEST_JWT_SIGNING_KEY,
  issuer: "https://api.streamforge.example",
  audience: "streamforge-api",
  ttlSeconds: 900,
};
const CLAIMS = { sub: "acme_analyst", tenant: "acme" };
const NOW_MS = Date.UTC(2026, 11, 2, 12, 0, 0);
const NOW_SECONDS = NOW_MS / 1000;

function signed(payload: Record<string, unknown>): Promise<string> {
  return sign({ ...CLAIMS, iss: SETTINGS.issuer, aud: SETTINGS.audience, ...payload }, SETTINGS.signingKey, "HS256");
}

describe("access tokens", () => {
  it("accepts a token just minted by an issuer whose clock runs a second ahead of the verifier's", async () => {
    const token = await issueToken(CLAIMS, SETTINGS, NOW_MS + 1_000);
    expect(await verifyToken(token, SETTINGS, NOW_MS)).toMatchObject(CLAIMS);
  });

  it(`accepts up to ${CLOCK_LEEWAY_SECONDS} s of skew and refuses a token from further in the future`, async () => {
    const atLimit = await issueToken(CLAIMS, SETTINGS, NOW_MS + CLOCK_LEEWAY_SECONDS * 1_000);
    expect(await verifyToken(atLimit, SETTINGS, NOW_MS)).toMatchObject(CLAIMS);
    const beyond = await issueToken(CLAIMS, SETTINGS, NOW_MS + (CLOCK_LEEWAY_SECONDS + 1) * 1_000);
    expect(await verifyToken(beyond, SETTINGS, NOW_MS)).toBeUndefined();
  });

  it("refuses a token whose nbf lies beyond the leeway even when its iat does not", async () => {
    const token = await signed({ iat: NOW_SECONDS, nbf: NOW_SECONDS + 60, exp: NOW_SECONDS + 900 });
    expect(await verifyToken(token, SETTINGS, NOW_MS)).toBeUndefined();
  });

  it("gives expiry no leeway", async () => {
    const token = await issueToken(CLAIMS, SETTINGS, NOW_MS - 900_000);
    expect(await verifyToken(token, SETTINGS, NOW_MS - 1_000)).toMatchObject(CLAIMS);
    expect(await verifyToken(token, SETTINGS, NOW_MS)).toBeUndefined();
  });

  it.each([
    ["exp", { iat: NOW_SECONDS, nbf: NOW_SECONDS }],
    ["nbf", { iat: NOW_SECONDS, exp: NOW_SECONDS + 900 }],
    ["iat", { nbf: NOW_SECONDS, exp: NOW_SECONDS + 900 }],
  ])("refuses a correctly signed token without %s", async (_claim, times) => {
    expect(await verifyToken(await signed(times), SETTINGS, NOW_MS)).toBeUndefined();
  });

  it("refuses a token whose time claims are not numbers", async () => {
    const token = await signed({ iat: "0", nbf: NOW_SECONDS, exp: NOW_SECONDS + 900 });
    expect(await verifyToken(token, SETTINGS, NOW_MS)).toBeUndefined();
  });
});
