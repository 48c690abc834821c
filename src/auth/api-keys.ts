/**
 * API keys for machine clients, in three formats.
 *
 * Keys issued from now on: `sfk3_<kid>_<claims>_<mac>_<checksum>`, which a secret scanner can
 * recognise offline (SCANNABLE_KEY_PATTERN, published in the README, and the checksum of
 * key-checksum.ts). `<claims>` is the base64url of a small JSON object `{"id","t" (tenant),"s"
 * (scopes),"rl"? (rate limit),"iat","exp"? (expiry)}`; `<mac>` is the base64url of HMAC-SHA256
 * under the signing secret named `<kid>` over `sfk3_<kid>_<claims>`; `<checksum>` is the CRC32 of
 * everything before it in six base62 characters. The worker checks the shape and the checksum
 * first, so a malformed, truncated or mistyped key costs no HMAC; then it verifies the MAC with no
 * lookup, and any change to the tenant, scopes, rate limit, expiry, id or kid makes it fail. The
 * secrets (`API_KEY_SIGNING_SECRETS`, a short JSON list of `{"kid","secret"}`) stay the root of
 * trust and `wrangler secret put` stays the way to rotate them: the first signs new keys, every
 * listed one verifies, so a rotation overlaps; removing a kid retires every key signed under it.
 *
 * Keys issued before, `sfk2.<kid>.<claims>.<mac>` (the same claims and MAC over
 * `sfk2.<kid>.<claims>`, no checksum), keep working: a scanner cannot verify them, which is why
 * new keys are no longer issued so.
 *
 * Why signed claims rather than digests sharded over several secrets: with a Worker secret capped
 * at 5 KB and 128 of them per Worker, digests (~150 bytes an entry) would top out near 3,800 keys,
 * each new key would be a secret put (a deploy), and every isolate would parse the whole list at
 * start-up. Here the worker stores nothing per key, so the number of keys has no limit in the
 * platform and start-up does not grow with it. What it gives up, deleting an entry to revoke, comes
 * back as the revocation list (src/keys/), which only has to hold the keys that were revoked.
 *
 * Legacy keys, `sfk_<id>_<43 base64url chars>`, keep working while their SHA-256 digests stay in
 * the `API_KEYS` secret; they are matched by id, then by digest in constant time. No key is ever
 * logged or kept.
 */
import { z } from "zod";
import { parseRateNotation } from "../rate-limit/policy.ts";
import { toBase64Url } from "./base64url.ts";
import { fromHex, sha256, timingSafeEqualBytes } from "./digest.ts";
import { CHECKSUM_LENGTH, keyChecksum } from "./key-checksum.ts";

export const LEGACY_KEY_PREFIX = "sfk";
const SIGNED_KEY_PREFIX = "sfk2.";
export const SCANNABLE_KEY_PREFIX = "sfk3_";
export const API_KEY_SCOPES = ["metrics:read", "streams:read"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const KEY_ID = /^[a-z0-9][a-z0-9-]{2,31}$/;
export const TENANT_SLUG = /^[a-z0-9][a-z0-9-]{1,39}$/;
const SIGNING_KID = /^[a-z0-9][a-z0-9-]{0,15}$/;
const LEGACY_KEY_FORMAT = /^sfk_([a-z0-9][a-z0-9-]{2,31})_([A-Za-z0-9_-]{43})$/;
// Claims of the largest key (32-character id, 40-character tenant, every scope, a rate limit) fit
// in 300 characters; anything longer is refused before any work is done on it.
const SIGNED_KEY_FORMAT = /^sfk2\.([a-z0-9][a-z0-9-]{0,15})\.([A-Za-z0-9_-]{16,300})\.([A-Za-z0-9_-]{43})$/;
/**
 * What a secret scanner matches (published in the README and docs/keys-and-sessions.md); a match
 * is a real key when its last six characters are `keyChecksum` of everything before the `_` that
 * precedes them. The widest key is about 420 characters.
 */
export const SCANNABLE_KEY_PATTERN =
  "sfk3_[a-z0-9][a-z0-9-]{0,15}_[A-Za-z0-9_-]{16,320}_[A-Za-z0-9_-]{43}_[0-9A-Za-z]{6}";
const SCANNABLE_KEY_FORMAT =
  /^sfk3_([a-z0-9][a-z0-9-]{0,15})_([A-Za-z0-9_-]{16,320})_([A-Za-z0-9_-]{43})_([0-9A-Za-z]{6})$/;
const MAC_LENGTH = 43;

export const rateNotation = z.string().refine((notation) => {
  try {
    parseRateNotation(notation);
    return true;
  } catch {
    return false;
  }
}, 'rate_limit must look like "1000/hour"');

export const scopeList = z
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
  /** Epoch seconds from which the key is refused; absent: it does not expire. */
  expiresAtSeconds?: number;
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
    exp: z.number().int().positive().optional(),
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
  const { id, t, s, rl, iat, exp } = parsed as Record<string, unknown>;
  if (
    typeof id !== "string" ||
    typeof t !== "string" ||
    typeof iat !== "number" ||
    !Array.isArray(s) ||
    s.length === 0 ||
    !s.every(isScope)
  )
    return undefined;
  if ((rl !== undefined && typeof rl !== "string") || (exp !== undefined && typeof exp !== "number")) return undefined;
  return {
    id,
    tenant: t,
    scopes: s,
    issuedAtSeconds: iat,
    ...(rl === undefined ? {} : { rateLimit: rl }),
    ...(exp === undefined ? {} : { expiresAtSeconds: exp }),
  };
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

/** A new key in the scannable format; `issuedAtSeconds` is the key's `iat`. */
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
    ...(claims.expiresAtSeconds === undefined ? {} : { exp: claims.expiresAtSeconds }),
  };
  signedClaimsSchema.parse(payload);
  const signedPart = `${SCANNABLE_KEY_PREFIX}${signing.kid}_${toBase64Url(encoder.encode(JSON.stringify(payload)))}`;
  const body = `${signedPart}_${await macText(await importHmacKey(signing.secret), signedPart)}`;
  return `${body}_${keyChecksum(body)}`;
}

export interface ApiKeyVerifierOptions {
  /** Every secret that still verifies; the first is the one that signs. Default: none (no signed key verifies). */
  signingSecrets?: readonly SigningSecret[];
  /** Legacy `API_KEYS` entries. Default: none. */
  legacyEntries?: readonly ApiKeyEntry[];
  /** Constant-time equality of two byte strings. Default `timingSafeEqualBytes`. */
  timingSafeEqual?: (a: Uint8Array, b: Uint8Array) => boolean;
  /** Epoch ms, against which a key's expiry is checked. Default `Date.now`. */
  clock?: () => number;
  /**
   * How many keys that verified the isolate remembers; 0 turns the memory off (the bench does, to
   * measure verification itself). Default 1,024.
   */
  rememberedKeys?: number;
}

export interface ApiKeyVerifier {
  /** The claims of a genuine key, or undefined for anything else; never throws. */
  verify(presented: string): Promise<ApiKeyClaims | undefined>;
  /**
   * Whether `presented` has the shape of one of our formats (and, in the scannable one, its
   * checksum): a refused value without it cannot be a key of ours, mistyped or guessed.
   */
  wellFormed(presented: string): boolean;
  /** Signs a new key under the first secret; throws when there is none. */
  issue(claims: Omit<ApiKeyClaims, "issuedAtSeconds">, issuedAtSeconds: number): Promise<string>;
  /** The kid new keys are signed under; undefined when no signing secret is configured. */
  readonly signingKid: string | undefined;
}

/**
 * Verified keys an isolate remembers by default. A lookup by the key's text replaces a SHA-256 or
 * an HMAC and the turns of the event loop its promise takes, the largest part of an admitted
 * request's JavaScript in a CPU profile (BENCHMARKS.md). V8 compares two strings only when their
 * seeded hashes already match, so the lookup tells a caller no more than the answer does. A full
 * map starts over.
 */
const REMEMBERED_KEYS = 1_024;

function isExpired(claims: ApiKeyClaims, nowMs: number): boolean {
  return claims.expiresAtSeconds !== undefined && claims.expiresAtSeconds * 1000 <= nowMs;
}

/**
 * @example const keys = createApiKeyVerifier({ signingSecrets: config.API_KEY_SIGNING_SECRETS, legacyEntries: config.API_KEYS })
 */
export function createApiKeyVerifier(options: ApiKeyVerifierOptions): ApiKeyVerifier {
  const signingSecrets = options.signingSecrets ?? [];
  const legacyEntries = options.legacyEntries ?? [];
  const timingSafeEqual = options.timingSafeEqual ?? timingSafeEqualBytes;
  const clock = options.clock ?? Date.now;
  const rememberedKeys = options.rememberedKeys ?? REMEMBERED_KEYS;
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

  /** The claims once the MAC over `signedPart` verified, unless the key expired. */
  async function verifyMac(
    kid: string,
    signedPart: string,
    claimsText: string,
    presentedMac: string,
  ): Promise<ApiKeyClaims | undefined> {
    const secret = secretsByKid.get(kid);
    if (secret === undefined) return undefined;
    const expectedMac = await macText(await hmacKey(kid, secret), signedPart);
    // Compared as text, so a non-canonical encoding of the right bytes is refused too.
    if (!timingSafeEqual(encoder.encode(expectedMac), encoder.encode(presentedMac))) return undefined;
    const claims = readClaims(claimsText);
    return claims === undefined || isExpired(claims, clock()) ? undefined : claims;
  }

  /** The parts of a scannable key whose shape and checksum hold; undefined otherwise. */
  function scannableParts(presented: string) {
    const match = SCANNABLE_KEY_FORMAT.exec(presented);
    if (!match) return undefined;
    const [, kid, claimsText, presentedMac, checksum] = match as unknown as [string, string, string, string, string];
    const body = presented.slice(0, presented.length - CHECKSUM_LENGTH - 1);
    return keyChecksum(body) === checksum ? { kid, claimsText, presentedMac, body } : undefined;
  }

  async function verifyScannable(presented: string): Promise<ApiKeyClaims | undefined> {
    // Before any HMAC: a mistyped, truncated or made-up key is refused for the price of a CRC32.
    const parts = scannableParts(presented);
    if (parts === undefined) return undefined;
    const { kid, claimsText, presentedMac, body } = parts;
    return verifyMac(kid, body.slice(0, body.length - MAC_LENGTH - 1), claimsText, presentedMac);
  }

  async function verifySigned(presented: string): Promise<ApiKeyClaims | undefined> {
    const match = SIGNED_KEY_FORMAT.exec(presented);
    if (!match) return undefined;
    const [, kid, claimsText, presentedMac] = match as unknown as [string, string, string, string];
    return verifyMac(kid, presented.slice(0, presented.length - MAC_LENGTH - 1), claimsText, presentedMac);
  }

  async function verifyPresented(presented: string): Promise<ApiKeyClaims | undefined> {
    if (presented.startsWith(SCANNABLE_KEY_PREFIX)) return verifyScannable(presented);
    if (presented.startsWith(SIGNED_KEY_PREFIX)) return verifySigned(presented);
    const entry = await matchApiKey(presented, legacyEntries);
    if (entry === undefined) return undefined;
    return {
      id: entry.id,
      tenant: entry.tenant,
      scopes: entry.scopes,
      ...(entry.rate_limit === undefined ? {} : { rateLimit: entry.rate_limit }),
    };
  }

  // Keys that verified, by their text. Only a genuine key gets in, so the map grows with the keys
  // that reach this isolate, never with guesses; and what verified stays genuine for the isolate's
  // life: a new secret or API_KEYS entry is a new deployment, so new isolates. Revocation is not
  // decided here: authenticate checks every request against the tenant's list.
  const verified = new Map<string, Readonly<ApiKeyClaims>>();

  return {
    signingKid: signingSecrets[0]?.kid,
    async verify(presented) {
      const known = verified.get(presented);
      if (known !== undefined) return isExpired(known, clock()) ? undefined : known;
      const claims = await verifyPresented(presented);
      if (claims !== undefined && rememberedKeys > 0) {
        if (verified.size >= rememberedKeys) verified.clear();
        verified.set(presented, Object.freeze(claims));
      }
      return claims;
    },
    wellFormed(presented) {
      if (presented.startsWith(SCANNABLE_KEY_PREFIX)) return scannableParts(presented) !== undefined;
      if (presented.startsWith(SIGNED_KEY_PREFIX)) return SIGNED_KEY_FORMAT.test(presented);
      return LEGACY_KEY_FORMAT.test(presented);
    },
    async issue(claims, issuedAtSeconds) {
      const signing = signingSecrets[0];
      if (signing === undefined) throw new Error("no API_KEY_SIGNING_SECRETS: signed keys cannot be issued");
      return signApiKey(claims, issuedAtSeconds, signing);
    },
  };
}
