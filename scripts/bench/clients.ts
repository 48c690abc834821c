/**
 * Client addresses and the single requests the bench makes outside the load: probing that a
 * scenario answers as expected before it is measured, and pushing a client over its limit.
 * Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks.
 */

/** 64 clients, so an admitted load spreads over 64 limiter objects as real traffic would. */
export const CLIENT_POOL: readonly string[] = Array.from({ length: 64 }, (_, index) => `198.18.0.${index + 1}`);

/**
 * 12,000 clients, each in an IPv6 /64 of its own: more networks than the invalid-credential bound
 * remembers (10,000, the least recently counted forgotten first; src/middleware/invalid-credential-bound.ts),
 * so cycling through them in turn no network ever reaches its 50 a minute, and every refusal is
 * authentication's own, not the bound's 429 from memory. 2001:db8::/32 is the documentation range.
 */
export const SPREAD_CLIENT_POOL: readonly string[] = Array.from(
  { length: 12_000 },
  (_, index) => `2001:db8:${(index >> 16).toString(16)}:${(index & 0xffff).toString(16)}::1`,
);

let freshClients = 0;

/** An address no earlier request of this run has used (198.19.0.0/16), so it starts with a whole allowance. */
export function freshClientIp(): string {
  freshClients += 1;
  if (freshClients > 65_534) throw new Error("out of fresh client addresses");
  return `198.19.${freshClients >> 8}.${freshClients & 255}`;
}

export interface ProbeResult {
  status: number;
  headers: Headers;
  body: string;
}

/** A POST when `jsonBody` is given, else a GET. */
export async function probe(url: string, headers: Record<string, string>, jsonBody?: string): Promise<ProbeResult> {
  const init =
    jsonBody === undefined
      ? {}
      : { method: "POST", body: jsonBody, headers: { ...headers, "Content-Type": "application/json" } };
  const response = await fetch(url, { headers, ...init, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/**
 * Fails loudly, with the worker's answer, when a scenario does not answer as it should — e.g. a
 * misconfigured env (500), or a response without a header that proves the work was done.
 */
export async function expectResponse(
  what: string,
  url: string,
  headers: Record<string, string>,
  expected: { status: number; header?: string },
  jsonBody?: string,
): Promise<void> {
  const { status, headers: responseHeaders, body } = await probe(url, headers, jsonBody);
  if (status !== expected.status)
    throw new Error(
      `${what}: ${jsonBody === undefined ? "GET" : "POST"} ${url} answered ${status}, expected ${expected.status}: ${body.slice(0, 500)}`,
    );
  if (expected.header !== undefined && !responseHeaders.has(expected.header)) {
    throw new Error(
      `${what}: GET ${url} answered without ${expected.header}: ${[...responseHeaders].map(([name, value]) => `${name}: ${value}`).join("; ")}`,
    );
  }
}

/** Sends requests from `clientIp` one at a time until the worker refuses with 429; returns how many it admitted. */
export async function exhaustAllowance(
  url: string,
  headers: Record<string, string>,
  clientIp: string,
  maxRequests = 10_000,
): Promise<number> {
  for (let sent = 0; sent < maxRequests; sent++) {
    const { status, body } = await probe(url, { ...headers, "CF-Connecting-IP": clientIp });
    if (status === 429) return sent;
    if (status !== 200) throw new Error(`exhausting ${clientIp}: GET ${url} answered ${status}: ${body.slice(0, 500)}`);
  }
  throw new Error(`exhausting ${clientIp}: still admitted after ${maxRequests} requests`);
}
