/**
 * Keys in the `sfk2.<kid>.<claims>.<mac>` format the worker issued before scannable keys: the
 * field still holds them, so the suite makes them as the worker used to.
 */
import type { ApiKeyClaims, SigningSecret } from "../../src/auth/api-keys.ts";
import { toBase64Url } from "../../src/auth/base64url.ts";

const encoder = new TextEncoder();

export async function signSfk2Key(
  claims: Omit<ApiKeyClaims, "issuedAtSeconds">,
  issuedAtSeconds: number,
  signing: SigningSecret,
): Promise<string> {
  const payload = {
    id: claims.id,
    t: claims.tenant,
    s: [...claims.scopes],
    ...(claims.rateLimit === undefined ? {} : { rl: claims.rateLimit }),
    iat: issuedAtSeconds,
  };
  const signedPart = `sfk2.${signing.kid}.${toBase64Url(encoder.encode(JSON.stringify(payload)))}`;
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(signing.secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = toBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(signedPart))));
  return `${signedPart}.${mac}`;
}
