import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { deriveKey } from "../../src/auth/derived-key.ts";
import { SESSION_AUDIENCE, sessionTokens } from "../../src/auth/session-token.ts";
import { issueToken, verifyToken } from "../../src/auth/tokens.ts";
import { TEST_JWT_SIGNING_KEY } from "../support/constants.ts";

const ISSUER = "https://api.streamforge.example";
const SETTINGS = { signingKey: TEST_JWT_SIGNING_KEY, issuer: ISSUER, ttlSeconds: 600, maxLifetimeSeconds: 1500 };
const ACCESS = { signingKey: TEST_JWT_SIGNING_KEY, issuer: ISSUER, audience: "streamforge-api", ttlSeconds: 900 };
const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;
const ACME = { subject: "acme_analyst", tenant: "acme", role: "analyst" } as const;

/** Signs claims with the session key itself, to reach the checks behind the signature. */
async function signAsSession(claims: Record<string, unknown>): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    await deriveKey(TEST_JWT_SIGNING_KEY, "streamforge session v1"),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return sign(claims, key, "HS256");
}

const sessionClaims = (overrides: Record<string, unknown> = {}) => ({
  sub: "acme_analyst",
  tenant: "acme",
  iss: ISSUER,
  aud: SESSION_AUDIENCE,
  iat: NOW,
  nbf: NOW,
  exp: NOW + 600,
  auth_time: NOW,
  jti: "a-session-id",
  fam: "a-family-id",
  gen: 1,
  ...overrides,
});

describe("session tokens", () => {
  const sessions = sessionTokens(SETTINGS);

  it("issues a session that verifies to its id, subject, tenant, sign-in time and end", async () => {
    const { token, session } = await sessions.issue(ACME, NOW_MS);
    expect(session).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      familyId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      generation: 1,
      ...ACME,
      authTimeSeconds: NOW,
      expiresAtSeconds: NOW + 600,
    });
    expect(session.familyId).not.toBe(session.id);
    expect(await sessions.verify(token, NOW_MS)).toEqual(session);
    expect(await sessions.verify(token, NOW_MS + 600_000)).toBeUndefined();
  });

  it("keeps the sign-in time and family of the session it continues, at the granted generation, ending no later than its absolute lifetime", async () => {
    const { session } = await sessions.issue(ACME, NOW_MS + 1_200_000, {
      authTimeSeconds: NOW,
      familyId: "family-1",
      generation: 7,
    });
    expect(session).toMatchObject({
      familyId: "family-1",
      generation: 7,
      authTimeSeconds: NOW,
      expiresAtSeconds: NOW + 1500,
    });
  });

  it("is not an access token, and an access token is not a session", async () => {
    const { token } = await sessions.issue(ACME, NOW_MS);
    expect(await verifyToken(token, ACCESS, NOW_MS)).toBeUndefined();
    expect(
      await sessions.verify(await issueToken({ sub: "acme_analyst", tenant: "acme" }, ACCESS, NOW_MS), NOW_MS),
    ).toBeUndefined();
  });

  it.each([
    ["the access tokens' audience, under the session key", sessionClaims({ aud: "streamforge-api" })],
    ["another issuer", sessionClaims({ iss: "https://evil.example.net" })],
    ["no session id", sessionClaims({ jti: undefined })],
    ["no sign-in time", sessionClaims({ auth_time: undefined })],
    ["a sign-in after its issue", sessionClaims({ auth_time: NOW + 60 })],
    ["an end past the absolute lifetime", sessionClaims({ auth_time: NOW - 1400, exp: NOW + 600 })],
    ["no tenant", sessionClaims({ tenant: undefined })],
    ["no family (a session from before families)", sessionClaims({ fam: undefined })],
    ["no generation", sessionClaims({ gen: undefined })],
    ["generation 0", sessionClaims({ gen: 0 })],
    ["a fractional generation", sessionClaims({ gen: 1.5 })],
  ])("refuses a session with %s", async (_label, claims) => {
    expect(await sessions.verify(await signAsSession(claims), NOW_MS)).toBeUndefined();
  });

  it("verifies the same claims signed with the session key, so the refusals above are the claims'", async () => {
    expect(await sessions.verify(await signAsSession(sessionClaims()), NOW_MS)).toMatchObject({
      id: "a-session-id",
      familyId: "a-family-id",
      generation: 1,
      authTimeSeconds: NOW,
    });
  });

  it("binds the CSRF token to its session and to the signing key", async () => {
    const token = await sessions.csrfToken("session-one");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await sessions.csrfMatches("session-one", token)).toBe(true);
    expect(await sessions.csrfMatches("session-two", token)).toBe(false);
    const flipped = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    expect(await sessions.csrfMatches("session-one", flipped)).toBe(false);
    expect(await sessions.csrfMatches("session-one", token.slice(0, 42))).toBe(false);
    expect(await sessions.csrfMatches("session-one", `${token}=`)).toBe(false);
    const otherKey = sessionTokens({ ...SETTINGS, signingKey: "another-signing-key-0123456789abcdef0123" });
    expect(await otherKey.csrfMatches("session-one", token)).toBe(false);
  });
});
