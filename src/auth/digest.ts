/** SHA-256 digests and constant-time comparison for credentials that must never be compared as text. */
const encoder = new TextEncoder();

/** workerd's extension of WebCrypto; spelled out because Node's typings, which scripts use, lack it. */
type PlatformSubtle = typeof crypto.subtle & { timingSafeEqual(a: ArrayBufferView, b: ArrayBufferView): boolean };

/** Looked up once: `crypto` and `subtle` are each a call into the runtime, and every key check used both twice. */
const subtle = crypto.subtle as PlatformSubtle;

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest("SHA-256", encoder.encode(text)));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/**
 * Constant-time equality by the platform's `crypto.subtle.timingSafeEqual`, whose time depends on
 * the length only, never on where the bytes differ: a comparison written here could be turned into
 * an early return by a compiler or a refactoring without any test noticing. Inputs of different
 * lengths are unequal at once (the platform throws on them); every caller compares digests or MACs
 * of a fixed length, so the length says nothing secret.
 */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && subtle.timingSafeEqual(a, b);
}
