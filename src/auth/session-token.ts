/**
 * Dashboard sessions. The session cookie's value is an HS256 JWT like an access token, but signed
 * under a key derived for sessions only and addressed to an audience of its own, so a session
 * never verifies as an access token and an access token never verifies as a session. It carries
 * a token id (`jti`, what the CSRF token is bound to), its family (`fam`, one per sign-in, kept across
 * refreshes) and generation (`gen`, 1 at sign-in, one more per refresh: what rotation compares,
 * src/keys/session-families.ts), subject, tenant, `iat` and `auth_time` (the original sign-in, kept
 * across refreshes): it expires an idle TTL after it was issued, and never later than `auth_time`
 * plus the absolute lifetime, whatever refreshes happen.
 *
 * The CSRF token is HMAC-SHA256 of the session id under a third derived key: only the server can
 * make one, it is valid for that one session, and it is checked with `crypto.subtle.verify`,
 * which compares in constant time.
 */
import { fromBase64Url, toBase64Url } from "./base64url.ts";
import { deriveKey } from "./derived-key.ts";
import { roleOf, type UserRole } from "./roles.ts";
import { isFiniteNumber, signClaims, verifyClaims } from "./tokens.ts";

/** `aud` of every session; access tokens carry JWT_AUDIENCE. */
export const SESSION_AUDIENCE = "streamforge-dashboard-session";
const SESSION_KEY_LABEL = "streamforge session v1";
const CSRF_KEY_LABEL = "streamforge session csrf v1";
/** 32 bytes of HMAC-SHA256 in base64url. */
const CSRF_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface SessionSettings {
  /** JWT_SIGNING_KEY: the session and CSRF keys are derived from it. */
  signingKey: string;
  issuer: string;
  /** Idle lifetime: a session not refreshed within it ends. */
  ttlSeconds: number;
  /** Absolute lifetime from the original sign-in. */
  maxLifetimeSeconds: number;
}

export interface Session {
  /** This token's own id: the CSRF token is bound to it, so each refresh brings a new one. */
  id: string;
  familyId: string;
  generation: number;
  subject: string;
  tenant: string;
  role: UserRole;
  /** When the user typed their password; refreshes keep it. */
  authTimeSeconds: number;
  expiresAtSeconds: number;
}

/** What a refresh carries over: the sign-in time and family, and the generation the family's owner granted. */
export interface SessionLineage {
  authTimeSeconds: number;
  familyId: string;
  generation: number;
}

export interface SessionTokens {
  /** A new family's first session for `principal`, or the next generation of `continuing` (a refresh). */
  issue(
    principal: { subject: string; tenant: string; role: UserRole },
    nowMs: number,
    continuing?: SessionLineage,
  ): Promise<{ token: string; session: Session }>;
  /** The session a cookie value stands for, or undefined unless it is ours, current and complete. */
  verify(token: string, nowMs: number): Promise<Session | undefined>;
  csrfToken(sessionId: string): Promise<string>;
  csrfMatches(sessionId: string, presented: string): Promise<boolean>;
}

const importHmacKey = async (bytes: Promise<ArrayBuffer>) =>
  crypto.subtle.importKey("raw", await bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);

/** @example const sessions = sessionTokens({ signingKey: config.JWT_SIGNING_KEY, issuer: config.JWT_ISSUER, ttlSeconds: 3600, maxLifetimeSeconds: 43200 }) */
export function sessionTokens(settings: SessionSettings): SessionTokens {
  let keys: Promise<{ session: CryptoKey; csrf: CryptoKey }> | undefined;
  const keysOnce = () =>
    (keys ??= (async () => ({
      session: await importHmacKey(deriveKey(settings.signingKey, SESSION_KEY_LABEL)),
      csrf: await importHmacKey(deriveKey(settings.signingKey, CSRF_KEY_LABEL)),
    }))());
  const encoder = new TextEncoder();

  return {
    async issue({ subject, tenant, role }, nowMs, continuing) {
      const iat = Math.floor(nowMs / 1000);
      const authTime = continuing?.authTimeSeconds ?? iat;
      const exp = Math.min(iat + settings.ttlSeconds, authTime + settings.maxLifetimeSeconds);
      const id = crypto.randomUUID();
      const familyId = continuing?.familyId ?? crypto.randomUUID();
      const generation = continuing?.generation ?? 1;
      const token = await signClaims(
        {
          sub: subject,
          tenant,
          role,
          iss: settings.issuer,
          aud: SESSION_AUDIENCE,
          iat,
          nbf: iat,
          exp,
          auth_time: authTime,
          jti: id,
          fam: familyId,
          gen: generation,
        },
        (await keysOnce()).session,
      );
      return {
        token,
        session: {
          id,
          familyId,
          generation,
          subject,
          tenant,
          role,
          authTimeSeconds: authTime,
          expiresAtSeconds: exp,
        },
      };
    },

    async verify(token, nowMs) {
      const claims = await verifyClaims(
        token,
        { signingKey: (await keysOnce()).session, issuer: settings.issuer, audience: SESSION_AUDIENCE },
        nowMs,
      );
      if (claims === undefined || typeof claims.jti !== "string" || !isFiniteNumber(claims.auth_time)) return undefined;
      // A session from before families existed has no owner that could rotate or end it.
      if (typeof claims.fam !== "string" || !Number.isSafeInteger(claims.gen) || (claims.gen as number) < 1)
        return undefined;
      // Also refuses sessions issued under a longer lifetime than the one configured now.
      if (claims.auth_time > claims.iat || claims.exp > claims.auth_time + settings.maxLifetimeSeconds)
        return undefined;
      return {
        id: claims.jti,
        familyId: claims.fam,
        generation: claims.gen as number,
        subject: claims.sub,
        tenant: claims.tenant,
        role: roleOf(claims.role),
        authTimeSeconds: claims.auth_time,
        expiresAtSeconds: claims.exp,
      };
    },

    async csrfToken(sessionId) {
      return toBase64Url(
        new Uint8Array(await crypto.subtle.sign("HMAC", (await keysOnce()).csrf, encoder.encode(sessionId))),
      );
    },

    async csrfMatches(sessionId, presented) {
      if (!CSRF_TOKEN.test(presented)) return false;
      return crypto.subtle.verify("HMAC", (await keysOnce()).csrf, fromBase64Url(presented), encoder.encode(sessionId));
    },
  };
}
