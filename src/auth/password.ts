/**
 * Password hashing: PBKDF2-SHA256 over an HMAC of the password with a server-side pepper, stored
 * as `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64url) so the cost can be raised later
 * without a flag day. The pepper lives only in a Worker secret, so a leaked table alone cannot be
 * cracked offline. Workers cap PBKDF2 at 100,000 iterations in production (wrangler dev does not),
 * so the cap is enforced here rather than discovered after deploy.
 */
import { fromBase64Url, toBase64Url } from "./base64url.ts";
import { timingSafeEqualBytes } from "./digest.ts";

export const PBKDF2_ITERATIONS = 100_000;
export const MAX_WORKERS_PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const HASH_BITS = 256;
const SCHEME = "pbkdf2-sha256";

const encoder = new TextEncoder();

export function assertIterationsSupported(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_WORKERS_PBKDF2_ITERATIONS) {
    throw new RangeError(`PBKDF2 iterations must be an integer from 1 to ${MAX_WORKERS_PBKDF2_ITERATIONS} on Workers`);
  }
}

async function derive(password: string, pepper: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  assertIterationsSupported(iterations);
  const pepperKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(pepper),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const peppered = await crypto.subtle.sign("HMAC", pepperKey, encoder.encode(password));
  const baseKey = await crypto.subtle.importKey("raw", peppered, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    baseKey,
    HASH_BITS,
  );
  return new Uint8Array(bits);
}

export async function hashPassword(password: string, pepper: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, pepper, salt, iterations);
  return [SCHEME, String(iterations), toBase64Url(salt), toBase64Url(hash)].join("$");
}

/** False for a wrong password; throws on a stored hash this code cannot have written. */
export async function verifyPassword(password: string, pepper: string, stored: string): Promise<boolean> {
  const [scheme, iterationsText, saltText, hashText, ...rest] = stored.split("$");
  if (scheme !== SCHEME || rest.length > 0 || !iterationsText || !saltText || !hashText) {
    throw new Error("stored password hash is not in the pbkdf2-sha256 format");
  }
  const iterations = Number(iterationsText);
  const expected = fromBase64Url(hashText);
  const actual = await derive(password, pepper, fromBase64Url(saltText), iterations);
  return timingSafeEqualBytes(actual, expected);
}
