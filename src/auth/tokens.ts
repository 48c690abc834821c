/**
 * Access tokens: short-lived JWTs signed with HS256 through Hono's JWT helpers. The algorithm is
 * pinned on both sides, so `alg: none` or a swapped algorithm never verifies; issuer, audience,
 * expiry and issued-at are always checked, and a token without a subject or tenant is refused.
 */
import { sign, verify } from "hono/jwt";

const ALGORITHM = "HS256";

export interface TokenSettings {
  signingKey: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface TokenClaims {
  sub: string;
  tenant: string;
}

export async function issueToken(claims: TokenClaims, settings: TokenSettings, nowMs = Date.now()): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return sign(
    { ...claims, iss: settings.issuer, aud: settings.audience, iat, nbf: iat, exp: iat + settings.ttlSeconds, jti: crypto.randomUUID() },
    settings.signingKey,
    ALGORITHM,
  );
}

export interface VerifiedToken extends TokenClaims {
  /** `iat`: revocations by user or tenant refuse tokens issued up to their time. */
  issuedAtSeconds: number;
}

/** The verified claims, or undefined for any token that is not ours, current and complete. */
export async function verifyToken(token: string, settings: TokenSettings): Promise<VerifiedToken | undefined> {
  try {
    const payload = await verify(token, settings.signingKey, { alg: ALGORITHM, iss: settings.issuer, aud: settings.audience });
    if (typeof payload.sub !== "string" || typeof payload.tenant !== "string" || typeof payload.exp !== "number" || typeof payload.iat !== "number") return undefined;
    return { sub: payload.sub, tenant: payload.tenant, issuedAtSeconds: payload.iat };
  } catch {
    return undefined;
  }
}
