/**
 * API keys for machine clients, in two formats.
 *
 * Signed keys, issued from now on: `sfk2.<kid>.<claims>.<mac>`. `<claims>` is the base64url of a
 * small JSON object `{"id","t" (tenant),"s" (scopes),"rl"? (rate limit),"iat"}`; `<mac>` is the
 * base64url of HMAC-SHA256 under the signing secret named `<kid>` over everything before it. The
 * worker verifies a key with one HMAC and no lookup, and any change to the tenant, scopes, rate
 * limit, id or kid makes the MAC fail. The secrets (`API_KEY_SIGNING_SECRETS`, a short JSON list of
 * `{"kid","secret"}`) stay the root of trust and `wrangler secret put` stays the way to rotate
 * them: the first signs new keys, every listed one verifies, so a rotation overlaps; removing a
 * kid retires every key signed under it at once.
 *
 * Why this rather than digests sharded over several secrets: with a Worker secret capped at 5 KB
 * and 128 of them per Worker, digests (~150 bytes an entry) would top out near 3,800 keys, each new
 * key would be a secret put (a deploy), and every isolate would parse the whole list at start-up.
 * Here the worker stores nothing per key, so the number of keys has no limit in the platform and
 * start-up does not grow with it. What it gives up, deleting an entry to revoke, comes back as the
 * revocation list (src/keys/), which only has to hold the keys that were revoked.
 *
 * Legacy keys, `sfk_<id>_<43 base64url chars>`, keep working while their SHA-256 digests stay in
 * the `API_KEYS` secret; they are matched by id, then by digest in constant time. No key is ever
 * logged or kept.
 */
import { z } from "zod";
import { parseRateNotation } from "../rate-limit/policy.ts";
import { toBase64Url } from "./base64url.ts";
import { fromHex, sha256, timingSafeEqualBytes } from "./digest.ts";

export const LEGACY_KEY_PREFIX = "sfk";
export const SIGNED_KEY_PREFIX = "sfk2";
export const API_KEY_SCOPES = ["metrics:read", "streams:read"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const KEY_ID = /^[a-z0-9][a-z0-9-]{2,31}$/;
export const TENANT_SLUG = /^[a-z0-9][a-z0-9-]{1,39}$/;
const SIGNING_KID = /^[a-z0-9][a-z0-9-]{0,15}$/;
const LEGACY_KEY_FORMAT = /^sfk_([a-z0-9][a-z0-9-]{2,31})_([A-Za-z0-9_-]{43})$/;
// Claims of the largest key (32-character id, 40-character tenant, every scope, a rate limit) fit
// in 300 characters; anything longer is refused before any work is done on it.
const SIGNED_KEY_FORMAT = /^sfk2\.([a-z0-9][a-z0-9-]{0,15})\.([A-Za-z0-9_-]{16,300})\.([A-Za-z0-9_-]{43})$/;
const MAC_LENGTH = 43;

const rateNotation = z.string().refine((notation) => {
  try {
    parseRateNotation(notation);
    return true;
  } catch {
    return false;
  }
}, 'rate_limit must look like "1000/hour"');

const scopeList = z
  .array(z.enum(API_KEY_SCOPES))
  .min(1)
  .refine((scopes) => new Set(scopes).size === scopes.length, "scopes must be unique");

/** What a verified key says about its holder; the tenant scopes every query made with it. */
export interface ApiKeyClaims {
  id: string;
  tenant: string;
  scopes: readonly ApiKeyScope[];
  rateLimit?: string;
  /** Epoch seconds a signed key was issued at; a legacy key has none. */
  issuedAtSeconds?: number;
}

/** What `POST /admin/keys` is asked to issue. */
export const keyRequestSchema = z
  .object({
    id: z.string().regex(KEY_ID, "id must be 3-32 of [a-z0-9-], starting with a letter or digit"),
    tenant: z.string().regex(TENANT_SLUG, "tenant must be a tenant slug"),
    scopes: scopeList,
    rate_limit: rateNotation.optional(),
  })
  .strict();

// ---- legacy keys: digests in the API_KEYS secret -------------------------------------------------

export const apiKeyEntrySchema = z
  .object({
    id: z.string().regex(KEY_ID, "id must be 3-32 of [a-z0-9-]"),
    digest: z.string().regex(/^[0-9a-f]{64}$/, "digest must be 64 lower-case hex characters (SHA-256)"),
    tenant: z.string().regex(TENANT_SLUG, "tenant must be a tenant slug"),
    scopes: scopeList,
    rate_limit: rateNotation.optional(),
  })
  .strict();

export type ApiKeyEntry = z.infer<typeof apiKeyEntrySchema> & { digestBytes: Uint8Array };

export const apiKeysSchema = z
  .array(apiKeyEntrySchema)
  .refine((entries) => new Set(entries.map((entry) => entry.id)).size === entries.length, "ids must be unique")
  .transform((entries) => entries.map((entry) => ({ ...entry, digestBytes: fromHex(entry.digest) })));

/** The entry a presented legacy key belongs to, or undefined for a malformed, unknown or wrong key. */
export async function matchApiKey(
  presented: string,
  entries: readonly ApiKeyEntry[],
): Promise<ApiKeyEntry | undefined> {
  const match = LEGACY_KEY_FORMAT.exec(presented);
  if (!match) return undefined;
  const entry = entries.find((candidate) => candidate.id === match[1]);
  // Digest even when the id is unknown, so the answer takes the same time either way.
  const digest = await sha256(presented);
  if (entry === undefined) return undefined;
  return timingSafeEqualBytes(digest, entry.digestBytes) ? entry : undefined;
}

/** A fresh legacy key with 256 bits of randomness; kept for tests of keys already in the field. */
export function generateApiKey(id: string): string {
  if (!KEY_ID.test(id)) throw new Error("id must be 3-32 of [a-z0-9-], starting with a letter or digit");
  return `${LEGACY_KEY_PREFIX}_${id}_${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

// ---- signed keys ----------------------------------------------------------------------------------

export interface SigningSecret {
  kid: string;
  secret: string;
}

export const signingSecretsSchema = z
  .array(
    z
      .object({
        kid: z.string().regex(SIGNING_KID, "kid must be 1-16 of [a-z0-9-]"),
        secret: z
          .string()
          .refine((value) => new TextEncoder().encode(value).length >= 32, "secret must be at least 32 bytes"),
      })
      .strict(),
  )
  .min(1)
  .max(8)
  .refine((secrets) => new Set(secrets.map((entry) => entry.kid)).size === secrets.length, "kids must be unique");

const signedClaimsSchema = z
  .object({
    id: z.string().regex(KEY_ID),
    t: z.string().regex(TENANT_SLUG),
    s: scopeList,
    rl: rateNotation.optional(),
    iat: z.number().int().nonnegative(),
  })
  .strict();

const isScope = (value: unknown): value is ApiKeyScope => value === "metrics:read" || value === "streams:read";

/**
 * The claims of a key whose MAC already verified. Only `signApiKey` signs, after the full schema
 * check, so this guards the shape cheaply instead of running the schema again on every request
 * (zod here cost more than the HMAC). The claims are ASCII JSON, so atob's output is the text.
 */
function readClaims(claimsText: string): ApiKeyClaims | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(atob(claimsText.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { id, t, s, rl, iat } = parsed as Record<string, unknown>;
  if (
    typeof id !== "string" ||
    typeof t !== "string" ||
    typeof iat !== "number" ||
    !Array.isArray(s) ||
    s.length === 0 ||
    !s.every(isScope)
  )
    return undefined;
  if (rl !== undefined && typeof rl !== "string") return undefined;
  return { id, tenant: t, scopes: s, issuedAtSeconds: iat, ...(rl === undefined ? {} : { rateLimit: rl }) };
}

// Spelled through the function so it type-checks under both the Workers and the Node typings.
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const encoder = new TextEncoder();

function importHmacKey(secret: string): Promise<HmacKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

async function macText(key: HmacKey, signedPart: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(signedPart))));
}

/** A new signed key; `issuedAtSeconds` is the key's `iat`. */
export async function signApiKey(
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
  signedClaimsSchema.parse(payload);
  const signedPart = `${SIGNED_KEY_PREFIX}.${signing.kid}.${toBase64Url(encoder.encode(JSON.stringify(payload)))}`;
  return `${signedPart}.${await macText(await importHmacKey(signing.secret), signedPart)}`;
}

export interface ApiKeyVerifierOptions {
  /** Every secret that still verifies; the first is the one that signs. Default: none (no signed key verifies). */
  signingSecrets?: readonly SigningSecret[];
  /** Legacy `API_KEYS` entries. Default: none. */
  legacyEntries?: readonly ApiKeyEntry[];
  /** Constant-time equality of two byte strings. Default `timingSafeEqualBytes`. */
  timingSafeEqual?: (a: Uint8Array, b: Uint8Array) => boolean;
}

export interface ApiKeyVerifier {
  /** The claims of a genuine key, or undefined for anything else; never throws. */
  verify(presented: string): Promise<ApiKeyClaims | undefined>;
  /** Signs a new key under the first secret; throws when there is none. */
  issue(claims: Omit<ApiKeyClaims, "issuedAtSeconds">, issuedAtSeconds: number): Promise<string>;
  /** The kid new keys are signed under; undefined when no signing secret is configured. */
  readonly signingKid: string | undefined;
}

/**
 * @example const keys = createApiKeyVerifier({ signingSecrets: config.API_KEY_SIGNING_SECRETS, legacyEntries: config.API_KEYS })
 */
export function createApiKeyVerifier(options: ApiKeyVerifierOptions): ApiKeyVerifier {
  const signingSecrets = options.signingSecrets ?? [];
  const legacyEntries = options.legacyEntries ?? [];
  const timingSafeEqual = options.timingSafeEqual ?? timingSafeEqualBytes;
  // Imported once per isolate, on first use: importKey costs as much as a verification.
  const keysByKid = new Map<string, Promise<HmacKey>>();
  const secretsByKid = new Map(signingSecrets.map((entry) => [entry.kid, entry.secret]));
  const hmacKey = (kid: string, secret: string) => {
    let key = keysByKid.get(kid);
    if (key === undefined) {
      key = importHmacKey(secret);
      keysByKid.set(kid, key);
    }
    return key;
  };

  async function verifySigned(presented: string): Promise<ApiKeyClaims | undefined> {
    const match = SIGNED_KEY_FORMAT.exec(presented);
    if (!match) return undefined;
    const [, kid, claimsText, presentedMac] = match as unknown as [string, string, string, string];
    const secret = secretsByKid.get(kid);
    if (secret === undefined) return undefined;
    const signedPart = presented.slice(0, presented.length - MAC_LENGTH - 1);
    const expectedMac = await macText(await hmacKey(kid, secret), signedPart);
    // Compared as text, so a non-canonical encoding of the right bytes is refused too.
    if (!timingSafeEqual(encoder.encode(expectedMac), encoder.encode(presentedMac))) return undefined;
    return readClaims(claimsText);
  }

  return {
    signingKid: signingSecrets[0]?.kid,
    async verify(presented) {
      if (presented.startsWith(`${SIGNED_KEY_PREFIX}.`)) return verifySigned(presented);
      const entry = await matchApiKey(presented, legacyEntries);
      if (entry === undefined) return undefined;
      return {
        id: entry.id,
        tenant: entry.tenant,
        scopes: entry.scopes,
        ...(entry.rate_limit === undefined ? {} : { rateLimit: entry.rate_limit }),
      };
    },
    async issue(claims, issuedAtSeconds) {
      const signing = signingSecrets[0];
      if (signing === undefined) throw new Error("no API_KEY_SIGNING_SECRETS: signed keys cannot be issued");
      return signApiKey(claims, issuedAtSeconds, signing);
    },
  };
}
