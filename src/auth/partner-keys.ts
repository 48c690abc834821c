/**
 * Where the public keys that sign secret-scanning reports come from. GitHub publishes its keys at
 * `GET /meta/public_keys/secret_scanning` (`{"public_keys":[{"key_identifier","key","is_current"}]}`)
 * and adds one before it signs with it, so a report naming an identifier we do not hold is the
 * signal to look again. The keys in configuration (SECRET_SCANNING_PUBLIC_KEYS) are always
 * trusted and never fetched: a key pair the test suite makes, or a key an operator pins.
 *
 * The endpoint is public, so whoever can POST a report can name any identifier: an isolate fetches
 * the list at most once per `minFetchIntervalMs`, whatever the reports say (concurrent reports wait
 * for the one fetch in flight), so a flood of made-up identifiers costs at most one fetch per
 * interval per isolate and never one per request. Between those fetches an unknown identifier is
 * refused from memory. A fetched list serves for `ttlMs`; when a fetch fails (the endpoint down,
 * rate-limited, an answer that does not parse) the last good list keeps serving until it is
 * `maxStaleMs` old, and after that only the configured keys verify. Every failure fails closed: a
 * report under a key we cannot confirm is refused (401) and revokes nothing.
 */
import { z } from "zod";
import { type PartnerKeys, partnerKeysSchema } from "./partner-signature.ts";

/** GitHub's answer; fields other than the identifier and the key (`is_current`) are not needed to verify. */
const publishedSchema = z.object({ public_keys: partnerKeysSchema });

/** The public key (PEM) an identifier names, or undefined when no trusted list holds it. */
export type PartnerKeyLookup = (identifier: string) => Promise<string | undefined>;

export interface PartnerKeySourceOptions {
  /** Always trusted, never fetched. */
  configured: PartnerKeys;
  /** The published list's JSON body; rejects when the endpoint cannot be read. Undefined: configured keys only. */
  fetchPublished: (() => Promise<unknown>) | undefined;
  /** Epoch ms. Default `Date.now`. */
  clock?: () => number;
  /** How long a fetched list serves before the next report fetches it again. Default 3,600,000 (1 h). */
  ttlMs?: number;
  /** The least time between two fetches by one isolate, whatever the reports name. Default 300,000 (5 min). */
  minFetchIntervalMs?: number;
  /** How long the last good list serves while fetches fail. Default 86,400,000 (24 h). */
  maxStaleMs?: number;
}

interface FetchedList {
  pems: Map<string, string>;
  fetchedAtMs: number;
}

/**
 * @example const keyFor = partnerKeySource({ configured: config.SECRET_SCANNING_PUBLIC_KEYS, fetchPublished: () => fetchJson(url) })
 */
export function partnerKeySource(options: PartnerKeySourceOptions): PartnerKeyLookup {
  const { fetchPublished } = options;
  const clock = options.clock ?? Date.now;
  const ttlMs = options.ttlMs ?? 3_600_000;
  const minFetchIntervalMs = options.minFetchIntervalMs ?? 300_000;
  const maxStaleMs = options.maxStaleMs ?? 86_400_000;
  if (!(minFetchIntervalMs > 0 && minFetchIntervalMs <= ttlMs && ttlMs <= maxStaleMs))
    throw new Error("partner keys: need 0 < minFetchIntervalMs <= ttlMs <= maxStaleMs");
  const configured = new Map(options.configured.map((entry) => [entry.key_identifier, entry.key]));

  let fetched: FetchedList | undefined;
  let lastAttemptMs = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;

  const refetch = (nowMs: number): Promise<void> => {
    if (inFlight !== undefined) return inFlight;
    if (fetchPublished === undefined || nowMs - lastAttemptMs < minFetchIntervalMs) return Promise.resolve();
    lastAttemptMs = nowMs;
    inFlight = (async () => {
      try {
        const list = publishedSchema.parse(await fetchPublished()).public_keys;
        fetched = { pems: new Map(list.map((entry) => [entry.key_identifier, entry.key])), fetchedAtMs: nowMs };
      } catch (error) {
        // The class only: the endpoint's text is not ours to log.
        console.error(
          JSON.stringify({
            level: "error",
            event: "partner_keys_unavailable",
            reason: error instanceof Error ? error.name : "error",
          }),
        );
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };

  const fromFetched = (identifier: string, nowMs: number) =>
    fetched !== undefined && nowMs - fetched.fetchedAtMs < maxStaleMs ? fetched.pems.get(identifier) : undefined;

  return async function partnerKey(identifier) {
    const pinned = configured.get(identifier);
    if (pinned !== undefined) return pinned;
    const nowMs = clock();
    const held = fromFetched(identifier, nowMs);
    if (held !== undefined && nowMs - fetched!.fetchedAtMs < ttlMs) return held;
    await refetch(nowMs);
    return fromFetched(identifier, clock());
  };
}

/** GitHub's API refuses a request without a User-Agent (403). */
const USER_AGENT = "streamforge-edge (secret-scanning partner)";
/** A report waits at most this long for the list; past it the report is refused and the partner retries. */
const FETCH_TIMEOUT_MS = 5000;

/**
 * The published list's body, from `url` with `fetcher` (the runtime's `fetch` in production, a
 * stand-in endpoint in tests); rejects on a network error, a timeout or a status other than 200.
 */
export function publishedKeysFetcher(url: string, fetcher: typeof fetch): () => Promise<unknown> {
  return async function fetchPublishedKeys() {
    const response = await fetcher(url, {
      headers: { Accept: "application/json", "User-Agent": USER_AGENT },
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`partner keys: status ${response.status}`);
    }
    return response.json();
  };
}
