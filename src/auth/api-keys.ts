/**
 * API keys for machine clients. A key is `sfk_<id>_<43 base64url chars>` (256 random bits); the
 * worker never holds keys, only their SHA-256 digests, in the `API_KEYS` secret:
 *   [{"id":"ci-2026","digest":"<64 hex>","tenant":"acme","scopes":["metrics:read"],"rate_limit":"1000/hour"}]
 * Several entries may be active at once, which is what makes rotation overlap possible. A
 * presented key is matched by its id, then by digest in constant time; the key itself is never
 * logged or kept.
 */
import { z } from "zod";
import { parseRateNotation } from "../rate-limit/policy.ts";
import { fromHex, sha256, timingSafeEqualBytes } from "./digest.ts";

export const API_KEY_PREFIX = "sfk";
const KEY_ID = /^[a-z0-9][a-z0-9-]{2,31}$/;
const API_KEY_FORMAT = /^sfk_([a-z0-9][a-z0-9-]{2,31})_([A-Za-z0-9_-]{43})$/;

export const apiKeyEntrySchema = z
  .object({
    id: z.string().regex(KEY_ID, "id must be 3-32 of [a-z0-9-]"),
    digest: z.string().regex(/^[0-9a-f]{64}$/, "digest must be 64 lower-case hex characters (SHA-256)"),
    tenant: z.string().regex(/^[a-z0-9][a-z0-9-]{1,39}$/, "tenant must be a tenant slug"),
    scopes: z.array(z.enum(["metrics:read"])).min(1),
    rate_limit: z
      .string()
      .refine((notation) => {
        try {
          parseRateNotation(notation);
          return true;
        } catch {
          return false;
        }
      }, 'rate_limit must look like "1000/hour"')
      .optional(),
  })
  .strict();

export type ApiKeyEntry = z.infer<typeof apiKeyEntrySchema> & { digestBytes: Uint8Array };

export const apiKeysSchema = z
  .array(apiKeyEntrySchema)
  .refine((entries) => new Set(entries.map((entry) => entry.id)).size === entries.length, "ids must be unique")
  .transform((entries) => entries.map((entry) => ({ ...entry, digestBytes: fromHex(entry.digest) })));

/** The entry a presented key belongs to, or undefined for a malformed, unknown or wrong key. */
export async function matchApiKey(presented: string, entries: readonly ApiKeyEntry[]): Promise<ApiKeyEntry | undefined> {
  const match = API_KEY_FORMAT.exec(presented);
  if (!match) return undefined;
  const entry = entries.find((candidate) => candidate.id === match[1]);
  // Digest even when the id is unknown, so the answer takes the same time either way.
  const digest = await sha256(presented);
  if (entry === undefined) return undefined;
  return timingSafeEqualBytes(digest, entry.digestBytes) ? entry : undefined;
}

function randomBase64Url(bytes: number): string {
  const random = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...random)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A fresh key with 256 bits of randomness; used by `npm run key:new`. */
export function generateApiKey(id: string): string {
  if (!KEY_ID.test(id)) throw new Error("id must be 3-32 of [a-z0-9-], starting with a letter or digit");
  return `${API_KEY_PREFIX}_${id}_${randomBase64Url(32)}`;
}
