/**
 * Keys for one purpose each, derived from JWT_SIGNING_KEY as HMAC-SHA256(signing key, label): one
 * operator secret to rotate, yet a value made under one key (a device cookie, a session, a CSRF
 * token) never verifies as another, and none of them verifies as an access token.
 */
export async function deriveKey(signingKey: string, label: string): Promise<ArrayBuffer> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(signingKey),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return crypto.subtle.sign("HMAC", key, new TextEncoder().encode(label));
}
