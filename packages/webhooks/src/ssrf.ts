import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';

import ipaddr from 'ipaddr.js';

import { EMPTY_ALLOWLIST, isIPv4Compatible, parseIp, unmap, type Allowlist } from './allowlist.js';

export { EMPTY_ALLOWLIST, parseAllowlist, type Allowlist } from './allowlist.js';

/**
 * Where webhooks may go. Only public unicast addresses over https, except targets on the operator's
 * allow-list (IMAGEGEN_WEBHOOK_ALLOWLIST: host names and IPs/CIDRs, comma-separated, a host or IP
 * optionally with one `:port`), which may be private and may use plain http. Checked when a job is
 * submitted and again on every connection, on the address actually dialled, so a name that later
 * resolves elsewhere (DNS rebinding) is caught.
 */
function inAllowedRange(ip: ipaddr.IPv4 | ipaddr.IPv6, allow: Allowlist, port?: number): boolean {
  return allow.cidrs.some(
    ([net, bits, p]) =>
      (p === null || p === port) && net.kind() === ip.kind() && ip.match([net, bits] as never),
  );
}

/** Whether the allow-list names this host (a name, not an address) for this port. */
function hostTrusted(host: string, allow: Allowlist, port?: number): boolean {
  const ports = allow.hosts.get(host.toLowerCase());
  return ports === null || (ports !== undefined && port !== undefined && ports.has(port));
}

/**
 * Why an address may not be dialled, or null when it may. Anything but public unicast is refused:
 * private, loopback, link-local (169.254.169.254, the cloud metadata address, included), CGNAT,
 * multicast, broadcast, unspecified, reserved and documentation ranges, unique-local IPv6 (fd00:ec2::254),
 * IPv4-mapped forms of all of these, and IPv6 forms that embed an IPv4 address (IPv4-compatible, 6to4,
 * Teredo, NAT64).
 */
export function addressRefusal(
  address: string,
  allow: Allowlist = EMPTY_ALLOWLIST,
  port?: number,
): string | null {
  const parsed = parseIp(address);
  if (!parsed) return `"${address}" is not an IP address`;
  const ip = unmap(parsed);
  if (inAllowedRange(ip, allow, port)) return null;
  if (isIPv4Compatible(ip)) return `${ip.toString()} is an IPv4-compatible (embedded IPv4) address`;
  const range = ip.range();
  if (range === 'unicast') return null;
  return `${ip.toString()} is a ${RANGE_NAMES[range] ?? range} address`;
}

const RANGE_NAMES: Record<string, string> = {
  private: 'private',
  loopback: 'loopback',
  linkLocal: 'link-local (or cloud metadata)',
  carrierGradeNat: 'carrier-grade NAT',
  multicast: 'multicast',
  broadcast: 'broadcast',
  unspecified: 'unspecified',
  reserved: 'reserved',
  uniqueLocal: 'unique-local',
  ipv4Mapped: 'IPv4-mapped',
  rfc6145: 'IPv4-translated',
  rfc6052: 'NAT64 (embedded IPv4)',
  '6to4': '6to4 (embedded IPv4)',
  teredo: 'Teredo (embedded IPv4)',
  benchmarking: 'benchmarking',
  amt: 'AMT',
  as112v4: 'AS112',
  as112v6: 'AS112',
  deprecated: 'deprecated',
  orchid2: 'ORCHIDv2',
  droneRemoteIdProtocolEntityTags: 'reserved',
};

/** The URL's host without IPv6 brackets, lower-case. */
export function urlHost(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
}

/** The port a URL connects to. */
export function urlPort(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

function hostAllowlisted(host: string, allow: Allowlist, port: number): boolean {
  if (hostTrusted(host, allow, port)) return true;
  const ip = parseIp(host);
  return ip !== null && inAllowedRange(unmap(ip), allow, port);
}

/**
 * The checks that need no network: an absolute https URL (http only for allow-listed hosts), no
 * credentials, and a host that is not itself a refused IP literal (every IPv4 spelling — decimal,
 * octal, hex, shortened — is normalized by the URL parser first). Returns the reason to refuse or null.
 */
export function urlRefusal(value: string, allow: Allowlist = EMPTY_ALLOWLIST): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'it is not an absolute URL';
  }
  const host = urlHost(url);
  const port = urlPort(url);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && hostAllowlisted(host, allow, port))) {
    return url.protocol === 'http:'
      ? 'it must use https (plain http is only allowed for hosts on IMAGEGEN_WEBHOOK_ALLOWLIST)'
      : 'it must be an https URL';
  }
  if (url.username !== '' || url.password !== '') return 'it must not contain credentials';
  if (host === '' || host.endsWith('.')) return 'it must name a host';
  if (isIP(host) !== 0) {
    const why = addressRefusal(host, allow, port);
    if (why) return `${why}, which webhooks may not reach`;
  }
  return null;
}

export type LookupFn = (
  hostname: string,
  options: { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const defaultLookup: LookupFn = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/** Resolves a host to every address, with a time limit. */
export function resolveAll(
  host: string,
  lookup: LookupFn = defaultLookup,
  timeoutMs = 5000,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`resolving ${host} took over ${timeoutMs} ms`)),
      timeoutMs,
    );
    lookup(host, { all: true }, (err, addresses) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(addresses.map((a) => a.address));
    });
  });
}

/** Why a host name is refused at submit: one answer for every cause, so it does not map the network. */
export const HOST_NOT_PUBLIC = 'its host does not resolve to public addresses only';

/**
 * Full submit-time check: `urlRefusal`, then every address the host resolves to must be allowed
 * (unless the host name itself is allow-listed for the URL's port). Returns the reason to refuse or
 * null. A name that does not resolve, resolves to nothing or resolves to a refused address gets the
 * same answer (HOST_NOT_PUBLIC): which internal names exist and where they point is not told.
 */
export async function webhookUrlRefusal(
  value: string,
  allow: Allowlist = EMPTY_ALLOWLIST,
  lookup: LookupFn = defaultLookup,
): Promise<string | null> {
  const why = urlRefusal(value, allow);
  if (why) return why;
  const url = new URL(value);
  const host = urlHost(url);
  const port = urlPort(url);
  if (isIP(host) !== 0 || hostTrusted(host, allow, port)) return null;
  let addresses: string[];
  try {
    addresses = await resolveAll(host, lookup);
  } catch {
    return HOST_NOT_PUBLIC;
  }
  if (addresses.length === 0) return HOST_NOT_PUBLIC;
  return addresses.some((a) => addressRefusal(a, allow, port)) ? HOST_NOT_PUBLIC : null;
}

/**
 * A `lookup` for http(s).request that refuses, at connect time, any host resolving to a refused
 * address — every resolved address is checked, not just the first — for a connection to `port`.
 */
export function guardedLookup(allow: Allowlist, lookup: LookupFn = defaultLookup, port?: number) {
  return (
    hostname: string,
    options: { all?: boolean; family?: number },
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    lookup(hostname, { all: true }, (err, addresses) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      const trusted = hostTrusted(hostname, allow, port);
      for (const a of addresses) {
        const why = trusted ? null : addressRefusal(a.address, allow, port);
        if (why) {
          const e: NodeJS.ErrnoException = new Error(`refused to connect to ${hostname}: ${why}`);
          e.code = 'ESSRF';
          callback(e, '', 0);
          return;
        }
      }
      const first = addresses[0];
      if (!first) {
        callback(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), '', 0);
      } else if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}
