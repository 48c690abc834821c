/**
 * Signatures of secret-scanning partner reports (GitHub's programme): the report's raw body is
 * signed with ECDSA P-256 over SHA-256, the signature sent base64-encoded in ASN.1 DER, and the
 * signing key named by an identifier the programme publishes with its public keys. Which public key
 * an identifier names is partner-keys.ts's business (GitHub's published list, fetched and cached,
 * and the configured keys); a report that does not verify under the key it names is not a report.
 */
import { z } from "zod";
import type { PartnerKeyLookup } from "./partner-keys.ts";

export const partnerKeysSchema = z
  .array(
    z.object({
      key_identifier: z.string().min(1).max(200),
      key: z.string().regex(/-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----/, "a PEM public key"),
    }),
  )
  .min(1)
  .max(20)
  .refine(
    (keys) => new Set(keys.map((entry) => entry.key_identifier)).size === keys.length,
    "identifiers must be unique",
  );

/** No keys: no report verifies. */
export type PartnerKeys = z.infer<typeof partnerKeysSchema> | [];

type VerifyKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const COORDINATE_BYTES = 32;

function base64Bytes(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * The 64-byte r‖s that WebCrypto verifies, from DER's SEQUENCE { INTEGER r, INTEGER s }; undefined
 * for anything else. Each INTEGER is big-endian, may carry a leading zero byte, and is at most 33 bytes.
 */
export function derToRaw(der: Uint8Array): Uint8Array | undefined {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return undefined;
  const raw = new Uint8Array(COORDINATE_BYTES * 2);
  let offset = 2;
  for (const half of [0, 1]) {
    if (der[offset] !== 0x02) return undefined;
    const length = der[offset + 1]!;
    const start = offset + 2;
    if (length < 1 || length > COORDINATE_BYTES + 1 || start + length > der.length) return undefined;
    let value = der.subarray(start, start + length);
    while (value.length > COORDINATE_BYTES && value[0] === 0) value = value.subarray(1);
    if (value.length > COORDINATE_BYTES) return undefined;
    raw.set(value, half * COORDINATE_BYTES + COORDINATE_BYTES - value.length);
    offset = start + length;
  }
  return offset === der.length ? raw : undefined;
}

export interface PartnerSignatureVerifier {
  /** Whether `body` was signed by the key `identifier` names; false for an unknown key or a malformed signature. */
  verify(identifier: string | undefined, signature: string | undefined, body: Uint8Array): Promise<boolean>;
}

/** @example const reports = partnerSignatures(partnerKeySource({ configured, fetchPublished })) */
export function partnerSignatures(keyFor: PartnerKeyLookup): PartnerSignatureVerifier {
  // Imported once per isolate, on first use; by PEM, so a list that changes what an identifier
  // names never verifies under the old key.
  const imported = new Map<string, Promise<VerifyKey>>();
  const importPem = (pem: string) => {
    let key = imported.get(pem);
    if (key === undefined) {
      const der = base64Bytes(pem.replace(/-----(BEGIN|END) PUBLIC KEY-----|\s/g, "")) ?? new Uint8Array();
      key = crypto.subtle.importKey("spki", der, ECDSA_P256, false, ["verify"]);
      imported.set(pem, key);
    }
    return key;
  };

  return {
    async verify(identifier, signature, body) {
      const der = signature === undefined || signature.length > 200 ? undefined : base64Bytes(signature);
      const raw = der === undefined ? undefined : derToRaw(der);
      // A malformed signature is refused before its identifier can cause a fetch of the key list.
      if (raw === undefined || identifier === undefined || identifier.length > 200) return false;
      const pem = await keyFor(identifier);
      if (pem === undefined) return false;
      try {
        return await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, await importPem(pem), raw, body);
      } catch {
        return false;
      }
    },
  };
}
