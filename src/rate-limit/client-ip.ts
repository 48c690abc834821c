/**
 * The client key for per-IP limits. Only `CF-Connecting-IP` is trusted: Cloudflare's edge sets it
 * and overwrites any client-sent value, while `X-Forwarded-For`, `X-Real-IP`, `True-Client-IP` and
 * the like are whatever the client typed. IPv6 clients are grouped by /64, the prefix one
 * subscriber usually holds, so rotating through addresses of one's own prefix does not reset the
 * count. A request with no usable address (impossible behind Cloudflare; possible only on a local
 * runtime) shares the single `unknown` bucket: it is limited together, never exempted.
 */
import { boundedMemo } from "../bounded-memo.ts";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export const UNKNOWN_CLIENT = "ip:unknown";

/** Expands an IPv6 text address into 8 hextets, or undefined when it is not one. */
function ipv6Hextets(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hextets.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (IPV4.test(tail)) {
    const [a, b, c, d] = tail.split(".").map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]!);
  const tailParts = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tailParts.length;
  if (halves.length === 1 ? head.length !== 8 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tailParts];
  if (groups.some((group) => !/^[0-9a-f]{1,4}$/.test(group))) return undefined;
  return groups.map((group) => parseInt(group, 16));
}

type ClientAddress = { kind: "ipv4"; octets: number[] } | { kind: "ipv6"; hextets: number[] } | { kind: "unknown" };

function parseClientAddress(header: string | undefined): ClientAddress {
  const address = header?.trim() ?? "";
  if (IPV4.test(address)) return { kind: "ipv4", octets: address.split(".").map(Number) };
  const hextets = ipv6Hextets(address);
  if (hextets === undefined) return { kind: "unknown" };
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 client it maps.
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    const [high, low] = [hextets[6]!, hextets[7]!];
    return { kind: "ipv4", octets: [high >> 8, high & 255, low >> 8, low & 255] };
  }
  return { kind: "ipv6", hextets };
}

const hex = (hextets: number[]) => hextets.map((h) => h.toString(16)).join(":");

/**
 * Header texts whose answers each derivation keeps: a request asks about its own client several
 * times (the flood gate, the invalid-credential bound, each tier of the per-network limit), with
 * requests of other clients running in between while it awaits.
 */
const REMEMBERED_ADDRESSES = 1_024;

export const clientKeyFromIp = boundedMemo((header: string | undefined): string => {
  const address = header?.trim() ?? "";
  // The common case first, without building an address: this runs before every limited request.
  if (IPV4.test(address)) return `ip:${address}`;
  const client = parseClientAddress(address);
  if (client.kind === "ipv4") return `ip:${client.octets.join(".")}`;
  if (client.kind === "ipv6") return `ip6:${hex(client.hextets.slice(0, 4))}::/64`;
  return UNKNOWN_CLIENT;
}, REMEMBERED_ADDRESSES);

/** Networks wider than one subscriber, for limits on what a whole block of addresses may do. */
export type NetworkPrefix = "ipv4-24" | "ipv6-56" | "ipv6-48";

/**
 * The keys of the wider networks the client's address belongs to: its IPv4 /24, or its IPv6 /56
 * and /48 (a /48 is what a tunnel broker hands anyone for free: 65,536 /64s). None for an
 * unusable address, which is already limited as the single `unknown` client.
 */
export const networkKeysFromIp = boundedMemo(
  (header: string | undefined): Readonly<Partial<Record<NetworkPrefix, string>>> => {
    const client = parseClientAddress(header);
    // Frozen: every caller with the same header shares this answer.
    if (client.kind === "ipv4") return Object.freeze({ "ipv4-24": `ip:${client.octets.slice(0, 3).join(".")}.0/24` });
    if (client.kind === "ipv6") {
      const [a, b, c, d] = client.hextets as [number, number, number, number];
      return Object.freeze({
        "ipv6-56": `ip6:${hex([a, b, c, d & 0xff00])}::/56`,
        "ipv6-48": `ip6:${hex([a, b, c])}::/48`,
      });
    }
    return Object.freeze({});
  },
  REMEMBERED_ADDRESSES,
);
