/**
 * Access tokens: short-lived JWTs signed with HS256 through Hono's JWT helpers. The algorithm is
 * pinned on both sides, so `alg: none` or a swapped algorithm never verifies; issuer, audience,
 * expiry and issued-at are always checked, and a token without a subject or tenant is refused.
 * `nbf` and `iat` get a few seconds of leeway: the isolate that verifies a token is not the one that
 * issued it, and a verifier whose clock runs a second behind must not refuse a token just minted.
 */
import { sign, verify } from "hono/jwt";
import type { SignatureKey } from "hono/utils/jwt/jws";
import type { JWTPayload } from "hono/utils/jwt/types";
import { roleOf, type UserRole } from "./roles.ts";

const ALGORITHM = "HS256";
/** Clock skew tolerated on `nbf`/`iat`; expiry gets none, so a token never lives past its TTL. */
export const CLOCK_LEEWAY_SECONDS = 5;

export interface TokenSettings {
  signingKey: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface TokenClaims {
  sub: string;
  tenant: string;
  /** Absent: an analyst's token. */
  role?: UserRole;
}

// Spelled through the function so it type-checks under both the Workers and the Node typings.
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

/**
 * The HMAC key of each settings object, imported on first use and kept for the isolate's life:
 * given the secret as text, Hono's helpers import it again on every call, which costs about as
 * much as the signature itself. Settings are made once per isolate and never changed.
 */
const importedKeys = new WeakMap<TokenSettings, Promise<HmacKey>>();

function signingKeyOf(settings: TokenSettings): Promise<HmacKey> {
  let key = importedKeys.get(settings);
  if (key === undefined) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(settings.signingKey),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    importedKeys.set(settings, key);
  }
  return key;
}

export async function issueToken(claims: TokenClaims, settings: TokenSettings, nowMs = Date.now()): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return signClaims(
    {
      ...claims,
      iss: settings.issuer,
      aud: settings.audience,
      iat,
      nbf: iat,
      exp: iat + settings.ttlSeconds,
      jti: crypto.randomUUID(),
    },
    await signingKeyOf(settings),
  );
}

export interface VerifiedToken extends TokenClaims {
  role: UserRole;
  /** `iat`: revocations by user or tenant refuse tokens issued up to their time. */
  issuedAtSeconds: number;
}

/** The verified claims, or undefined for any token that is not ours, current and complete. */
export async function verifyToken(
  token: string,
  settings: TokenSettings,
  nowMs = Date.now(),
): Promise<VerifiedToken | undefined> {
  const payload = await verifyClaims(token, { ...settings, signingKey: await signingKeyOf(settings) }, nowMs);
  return payload === undefined
    ? undefined
    : { sub: payload.sub, tenant: payload.tenant, role: roleOf(payload.role), issuedAtSeconds: payload.iat };
}

/** What every token of ours carries once verified; other claims are the caller's to check. */
export type VerifiedClaims = JWTPayload & { sub: string; tenant: string; iat: number; exp: number };

/** Signs `payload` as our tokens are signed: HS256. */
export function signClaims(payload: JWTPayload, signingKey: SignatureKey): Promise<string> {
  return sign(payload, signingKey, ALGORITHM);
}

/**
 * Checks signature, algorithm, issuer, audience, time claims, subject and tenant of a token signed
 * with `signingKey`: undefined unless every one holds.
 */
export async function verifyClaims(
  token: string,
  settings: { signingKey: SignatureKey; issuer: string; audience: string },
  nowMs: number,
): Promise<VerifiedClaims | undefined> {
  try {
    // Hono's time checks have no leeway and skip absent claims; all three are checked below instead.
    const payload = await verify(token, settings.signingKey, {
      alg: ALGORITHM,
      iss: settings.issuer,
      aud: settings.audience,
      nbf: false,
      iat: false,
      exp: false,
    });
    if (typeof payload.sub !== "string" || typeof payload.tenant !== "string") return undefined;
    const nowSeconds = Math.floor(nowMs / 1000);
    const latestStartSeconds = nowSeconds + CLOCK_LEEWAY_SECONDS;
    if (!isFiniteNumber(payload.exp) || payload.exp <= nowSeconds) return undefined;
    if (!isFiniteNumber(payload.nbf) || payload.nbf > latestStartSeconds) return undefined;
    if (!isFiniteNumber(payload.iat) || payload.iat > latestStartSeconds) return undefined;
    return { ...payload, sub: payload.sub, tenant: payload.tenant, iat: payload.iat, exp: payload.exp };
  } catch {
    return undefined;
  }
}

/** Our tokens always carry `exp`, `nbf` and `iat`; a token without one is not ours. */
export function isFiniteNumber(claim: unknown): claim is number {
  return typeof claim === "number" && Number.isFinite(claim);
}
