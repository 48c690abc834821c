/**
 * Trusted Host: answers only for the hosts this deployment serves, so a request routed here under
 * a foreign Host (cache poisoning, password-reset link poisoning, DNS rebinding against
 * `wrangler dev`) is refused before any route runs. Entries are exact hosts or `*.example.com`
 * patterns; a wildcard matches one or more labels but never the bare apex. Ports are explicit: an
 * entry without a port accepts no port (or the scheme's default), an entry with one accepts only it.
 */
import type { Context } from "hono";
import { boundedMemo } from "../bounded-memo.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";
import type { LayerParts } from "./layer.ts";

export interface HostPattern {
  /** Lower-case host name; for a wildcard, the part after `*.`. */
  hostname: string;
  wildcard: boolean;
  port?: number;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** A DNS name of valid labels, or a dotted IPv4 address (lower case). */
export function isHostname(name: string): boolean {
  return name.length <= 253 && (IPV4.test(name) || name.split(".").every((label) => LABEL.test(label)));
}

function splitPort(host: string): { name: string; port?: number } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host);
  if (!match) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { name: match[1]!, port };
}

/** Parses one ALLOWED_HOSTS entry; throws on anything that is not a host or `*.host`, optionally with `:port`. */
export function parseHostPattern(entry: string): HostPattern {
  const parts = splitPort(entry.trim().toLowerCase());
  if (!parts) throw new Error(`not a host[:port]: ${JSON.stringify(entry)}`);
  const wildcard = parts.name.startsWith("*.");
  const hostname = wildcard ? parts.name.slice(2) : parts.name;
  const bracketedIpv6 = !wildcard && /^\[[0-9a-f:.]+\]$/.test(hostname);
  // A wildcard over a single label (`*.com`) would trust a whole top-level domain.
  if (!bracketedIpv6 && (!isHostname(hostname) || (wildcard && !hostname.includes(".")))) {
    throw new Error(`not a host or *.host pattern: ${JSON.stringify(entry)}`);
  }
  return { hostname, wildcard, ...(parts.port === undefined ? {} : { port: parts.port }) };
}

/** Host texts whose verdicts are kept per scheme. */
const REMEMBERED_HOSTS = 256;
/** A host name (at most 253 characters), a colon and a port. */
const MAX_REMEMBERED_HOST_LENGTH = 259;

export interface TrustedHostOptions {
  /** Parsed ALLOWED_HOSTS; at least one. */
  allowedHosts: readonly HostPattern[];
}

function matches(
  pattern: HostPattern,
  name: string,
  port: number | undefined,
  defaultPort: number | undefined,
): boolean {
  const portOk = pattern.port === undefined ? port === undefined || port === defaultPort : port === pattern.port;
  if (!portOk) return false;
  if (!pattern.wildcard) return name === pattern.hostname;
  if (!name.endsWith(`.${pattern.hostname}`)) return false;
  return name
    .slice(0, -pattern.hostname.length - 1)
    .split(".")
    .every((label) => LABEL.test(label));
}

/**
 * @example app.use(layer(trustedHost({ allowedHosts: ["api.example.com", "*.api.example.com"].map(parseHostPattern) })))
 */
export function trustedHost(options: TrustedHostOptions): LayerParts {
  if (options.allowedHosts.length === 0) throw new Error("trustedHost needs at least one allowed host");
  const patterns = [...options.allowedHosts];
  const judge = (host: string, defaultPort: 443 | 80): boolean => {
    const parts = splitPort(host.toLowerCase());
    return parts !== undefined && patterns.some((pattern) => matches(pattern, parts.name, parts.port, defaultPort));
  };
  // The verdict per Host text, for https and for http: a host seen before costs a lookup instead of
  // a parse. Bounded in entries and in length, since the Host is the client's text: a longer one
  // cannot be a host name anyway, and is judged each time.
  const verdicts = {
    443: boundedMemo((host: string) => judge(host, 443), REMEMBERED_HOSTS),
    80: boundedMemo((host: string) => judge(host, 80), REMEMBERED_HOSTS),
  };
  const isTrusted = (host: string, defaultPort: 443 | 80): boolean =>
    host.length <= MAX_REMEMBERED_HOST_LENGTH ? verdicts[defaultPort](host) : judge(host, defaultPort);
  function trustedHost(c: Context<AppEnv>): undefined {
    const url = c.req.url;
    if (!isTrusted(c.req.header("host") ?? new URL(url).host, url.startsWith("https:") ? 443 : 80)) {
      throw new AppError({
        status: 400,
        code: "untrusted-host",
        title: "Untrusted host",
        detail: "This service does not answer for the requested host.",
      });
    }
    return undefined;
  }
  return { before: trustedHost };
}
