import { afterEach, describe, expect, it, vi } from "vitest";
import { partnerKeySource, publishedKeysFetcher } from "../../src/auth/partner-keys.ts";
import { testClock } from "../support/isolate.ts";

const PEM_A = "-----BEGIN PUBLIC KEY-----\nQUFBQQ==\n-----END PUBLIC KEY-----";
const PEM_B = "-----BEGIN PUBLIC KEY-----\nQkJCQg==\n-----END PUBLIC KEY-----";
const PEM_PINNED = "-----BEGIN PUBLIC KEY-----\nUFBQUA==\n-----END PUBLIC KEY-----";
const MINUTE_MS = 60_000;

/** A stand-in for the partner's key endpoint: what it serves can change, and it counts its calls. */
function keyEndpoint(initial: Record<string, string>) {
  let served: Record<string, string> | "down" = initial;
  const endpoint = {
    calls: 0,
    serve(keys: Record<string, string> | "down") {
      served = keys;
    },
    async fetchPublished(): Promise<unknown> {
      endpoint.calls++;
      // An answer takes a while, as over the network: reports can arrive in the meantime.
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (served === "down") throw new TypeError("network connection lost");
      return {
        public_keys: Object.entries(served).map(([key_identifier, key]) => ({ key_identifier, key, is_current: true })),
      };
    },
  };
  return endpoint;
}

describe("secret-scanning partner keys", () => {
  afterEach(() => vi.restoreAllMocks());

  it("finds a published key with one fetch and serves it from memory until the list is an hour old", async () => {
    const endpoint = keyEndpoint({ "pk-a": PEM_A });
    const clock = testClock();
    const keyFor = partnerKeySource({ configured: [], fetchPublished: endpoint.fetchPublished, clock: clock.now });
    expect(await keyFor("pk-a")).toBe(PEM_A);
    clock.advance(59 * MINUTE_MS);
    expect(await keyFor("pk-a")).toBe(PEM_A);
    expect(endpoint.calls).toBe(1);
    clock.advance(MINUTE_MS);
    expect(await keyFor("pk-a")).toBe(PEM_A);
    expect(endpoint.calls).toBe(2);
  });

  it("fetches again when a report names an identifier the list lacks, and finds a key published since", async () => {
    const endpoint = keyEndpoint({ "pk-a": PEM_A });
    const clock = testClock();
    const keyFor = partnerKeySource({ configured: [], fetchPublished: endpoint.fetchPublished, clock: clock.now });
    expect(await keyFor("pk-a")).toBe(PEM_A);
    endpoint.serve({ "pk-a": PEM_A, "pk-b": PEM_B });
    clock.advance(5 * MINUTE_MS);
    expect(await keyFor("pk-b")).toBe(PEM_B);
    expect(endpoint.calls).toBe(2);
  });

  it("lets reports that arrive while the list is being fetched wait for it, with one fetch", async () => {
    const endpoint = keyEndpoint({ "pk-a": PEM_A });
    const keyFor = partnerKeySource({ configured: [], fetchPublished: endpoint.fetchPublished });
    expect(await Promise.all([keyFor("pk-a"), keyFor("pk-a"), keyFor("pk-a")])).toEqual([PEM_A, PEM_A, PEM_A]);
    expect(endpoint.calls).toBe(1);
  });

  it("answers the configured keys without fetching anything", async () => {
    const endpoint = keyEndpoint({});
    const keyFor = partnerKeySource({
      configured: [{ key_identifier: "pinned", key: PEM_PINNED }],
      fetchPublished: endpoint.fetchPublished,
    });
    expect(await keyFor("pinned")).toBe(PEM_PINNED);
    expect(endpoint.calls).toBe(0);
  });

  it("makes at most one fetch per 5 minutes, however many made-up identifiers reports name, at once or in a row", async () => {
    const endpoint = keyEndpoint({ "pk-a": PEM_A });
    const clock = testClock();
    const keyFor = partnerKeySource({ configured: [], fetchPublished: endpoint.fetchPublished, clock: clock.now });
    const burst = await Promise.all(Array.from({ length: 500 }, () => keyFor(crypto.randomUUID())));
    expect(burst.every((pem) => pem === undefined)).toBe(true);
    expect(endpoint.calls).toBe(1);
    // Ten simulated minutes of a report every second, each with a new identifier.
    for (let second = 0; second < 600; second++) {
      clock.advance(1000);
      expect(await keyFor(crypto.randomUUID())).toBeUndefined();
    }
    expect(endpoint.calls).toBeLessThanOrEqual(3);
    // The partner's own key still verifies, from memory.
    expect(await keyFor("pk-a")).toBe(PEM_A);
  });

  it("with the endpoint down: configured keys still found, unknown ones refused, and the last good list kept for a day", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const endpoint = keyEndpoint({ "pk-a": PEM_A });
    const clock = testClock();
    const keyFor = partnerKeySource({
      configured: [{ key_identifier: "pinned", key: PEM_PINNED }],
      fetchPublished: endpoint.fetchPublished,
      clock: clock.now,
    });
    expect(await keyFor("pk-a")).toBe(PEM_A);
    endpoint.serve("down");
    clock.advance(2 * 60 * MINUTE_MS);
    expect(await keyFor("pinned")).toBe(PEM_PINNED);
    expect(await keyFor("pk-unknown")).toBeUndefined();
    expect(await keyFor("pk-a")).toBe(PEM_A);
    clock.advance(22 * 60 * MINUTE_MS);
    expect(await keyFor("pk-a")).toBeUndefined();
    expect(await keyFor("pinned")).toBe(PEM_PINNED);
  });

  it("refuses a list that does not parse as GitHub's, keeping what it had", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const clock = testClock();
    const answers: unknown[] = [
      { public_keys: [{ key_identifier: "pk-a", key: PEM_A }] },
      { public_keys: [{ key_identifier: "pk-evil", key: "not a pem" }] },
    ];
    const keyFor = partnerKeySource({ configured: [], fetchPublished: async () => answers.shift(), clock: clock.now });
    expect(await keyFor("pk-a")).toBe(PEM_A);
    clock.advance(5 * MINUTE_MS);
    expect(await keyFor("pk-evil")).toBeUndefined();
    expect(await keyFor("pk-a")).toBe(PEM_A);
  });

  it("asks the endpoint with a User-Agent (GitHub refuses requests without one) and rejects any status but 200", async () => {
    const seen: Request[] = [];
    let status = 200;
    const endpoint = async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Request(input, init));
      return Response.json({ public_keys: [] }, { status });
    };
    const fetchPublished = publishedKeysFetcher("https://keys.partner.test/secret_scanning", endpoint as typeof fetch);
    expect(await fetchPublished()).toEqual({ public_keys: [] });
    expect(seen[0]!.url).toBe("https://keys.partner.test/secret_scanning");
    expect(seen[0]!.headers.get("user-agent")).toMatch(/\S/);
    status = 503;
    await expect(fetchPublished()).rejects.toThrow("status 503");
  });
});
