import { isIP } from 'node:net';

import ipaddr from 'ipaddr.js';

/**
 * The operator's allow-list of webhook targets (IMAGEGEN_WEBHOOK_ALLOWLIST) and the IP parsing it and the
 * SSRF policy share.
 */
export interface Allowlist {
  /** Allowed host names (lower-case), each with the ports it may use; null: any port. */
  hosts: ReadonlyMap<string, ReadonlySet<number> | null>;
  /** Allowed address ranges (an address is a /32 or /128), each with its one port or null for any. */
  cidrs: readonly (readonly [ipaddr.IPv4 | ipaddr.IPv6, number, number | null])[];
}

export const EMPTY_ALLOWLIST: Allowlist = { hosts: new Map(), cidrs: [] };

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** An entry's host and port: `[::1]:9999`, `127.0.0.1:9999`, `localhost:9999`, or no port. */
function splitPort(entry: string): { host: string; port: string | null } {
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ?? null };
  const withPort = /^([^:]*):(\d*)$/.exec(entry);
  return withPort ? { host: withPort[1]!, port: withPort[2]! } : { host: entry, port: null };
}

/**
 * Parses `localhost, hooks.internal:8443, 127.0.0.1:9999, 10.0.0.0/8, [::1]:9999`; throws naming a bad
 * entry. An entry with a port opens only that port; one without opens every port of its host.
 */
export function parseAllowlist(text: string | undefined): Allowlist {
  const hosts = new Map<string, Set<number> | null>();
  const cidrs: [ipaddr.IPv4 | ipaddr.IPv6, number, number | null][] = [];
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const bad = (why: string) => new Error(`IMAGEGEN_WEBHOOK_ALLOWLIST: "${raw.trim()}" ${why}`);
    const { host, port: portText } = splitPort(entry);
    const port = portText === null ? null : Number(portText);
    if (port !== null && !(Number.isInteger(port) && port >= 1 && port <= 65535 && portText !== '')) {
      throw bad('has no valid port (1–65535)');
    }
    const ip = parseIp(host);
    if (host.includes('/')) {
      if (port !== null) throw bad('is a CIDR range, which takes no port');
      try {
        const [net, bits] = normalizeRange(ipaddr.parseCIDR(host));
        cidrs.push([net, bits, null]);
      } catch {
        throw bad('is not a valid CIDR range');
      }
    } else if (ip) {
      const unmapped = unmap(ip);
      cidrs.push([unmapped, unmapped.kind() === 'ipv4' ? 32 : 128, port]);
    } else if (HOST_NAME.test(host)) {
      const ports = hosts.has(host) ? (hosts.get(host) ?? null) : new Set<number>();
      if (port === null || ports === null) hosts.set(host, null);
      else hosts.set(host, ports.add(port));
    } else {
      throw bad('is neither a host name nor an IP/CIDR');
    }
  }
  return { hosts, cidrs };
}

/**
 * Parses an IP address. ipaddr.js 2.x reads an IPv6 address with a dotted IPv4 tail after `::` as
 * IPv4-mapped (`::127.0.0.1` → `::ffff:127.0.0.1`), though it is IPv4-compatible (`::7f00:1`), so IPv6
 * text goes through the WHATWG URL parser's serialization first, as a URL host does. Null when it is
 * not an address (a zone id such as `fe80::1%eth0` included).
 */
export function parseIp(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    if (isIP(address) === 4) return ipaddr.parse(address);
    if (isIP(address) === 6) return ipaddr.parse(new URL(`http://[${address}]/`).hostname.slice(1, -1));
  } catch {
    // not an address
  }
  return null;
}

export function unmap(ip: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()
    ? (ip as ipaddr.IPv6).toIPv4Address()
    : ip;
}

/**
 * IPv4-compatible IPv6, `::a.b.c.d` (::/96 less `::` and `::1`, deprecated by RFC 4291 §2.5.5.1):
 * ipaddr.js calls it unicast, but a host may route it to the IPv4 address it embeds.
 */
export function isIPv4Compatible(ip: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (ip.kind() !== 'ipv6') return false;
  const parts = (ip as ipaddr.IPv6).parts;
  return parts.slice(0, 6).every((p) => p === 0) && (parts[6] !== 0 || (parts[7] ?? 0) > 1);
}

export function normalizeRange([ip, bits]: [ipaddr.IPv4 | ipaddr.IPv6, number]): [
  ipaddr.IPv4 | ipaddr.IPv6,
  number,
] {
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(ip as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [ip, bits];
}
