/**
 * Access tokens: short-lived JWTs signed with HS256 through Hono's JWT helpers. The algorithm is
 * pinned on both sides, so `alg: none` or a swapped algorithm never verifies; issuer, audience,
 * expiry and issued-at are always checked, and a token without a subject or tenant is refused.
 * `nbf` and `iat` get a few seconds of leeway: the isolate that verifies a token is not the one that
 * issued it, and a verifier whose clock runs a second behind must not refuse a token just minted.
 */
import { sign, verify } from "hono/jwt";

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
export async function verifyToken(token: string, settings: TokenSettings, nowMs = Date.now()): Promise<VerifiedToken | undefined> {
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
    return { sub: payload.sub, tenant: payload.tenant, issuedAtSeconds: payload.iat };
  } catch {
    return undefined;
  }
}

/** Our tokens always carry `exp`, `nbf` and `iat`; a token without one is not ours. */
function isFiniteNumber(claim: unknown): claim is number {
  return typeof claim === "number" && Number.isFinite(claim);
}
