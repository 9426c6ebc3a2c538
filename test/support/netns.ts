import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Hosts as Linux network namespaces on one Ethernet segment: a bridge in its own namespace ("the
 * switch") and a veth link from each host to it, addresses 10.231.0.<n>/24. Needs root (CAP_SYS_ADMIN,
 * CAP_NET_ADMIN). Names carry a random tag, so concurrent runs never meet; `destroy` removes every
 * namespace (and with them the links) and is safe to call twice.
 */
export interface Hosts {
  /** `ip netns exec <ns>` for a host: prefix a command with it to run it there. */
  exec: (host: string) => string[];
  address: (host: string) => string;
  /** Takes a host's link down (`cut`) or up again (`restore`) on the switch side. */
  cut: (host: string) => void;
  restore: (host: string) => void;
  destroy: () => void;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr || r.error?.message || ''}`);
}

/** Why network namespaces cannot be built here, or null when they can (tries one). */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'building network namespaces needs root (the CI runs as root)';
  const probe = `igp${randomBytes(3).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0)
    return `\`ip netns add\` is not permitted here: ${(r.stderr || r.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe], { timeout: 10_000 });
  return null;
}

export function buildHosts(names: string[]): Hosts {
  const tag = randomBytes(2).toString('hex');
  const ns = (h: string) => `ig${tag}-${h}`;
  const sw = ns('switch');
  const index = new Map(names.map((h, i) => [h, i + 1]));
  const created: string[] = [];
  const link = (h: string) => `ig${tag}${index.get(h)!}s`;
  const destroy = () => {
    for (const n of created.splice(0)) spawnSync('ip', ['netns', 'del', n], { timeout: 10_000 });
  };
  try {
    ip('netns', 'add', sw);
    created.push(sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    for (const h of names) {
      ip('netns', 'add', ns(h));
      created.push(ns(h));
      const inner = `ig${tag}${index.get(h)!}h`;
      ip('link', 'add', inner, 'type', 'veth', 'peer', 'name', link(h));
      ip('link', 'set', inner, 'netns', ns(h));
      ip('link', 'set', link(h), 'netns', sw);
      ip('-n', sw, 'link', 'set', link(h), 'master', 'br0');
      ip('-n', sw, 'link', 'set', link(h), 'up');
      ip('-n', ns(h), 'link', 'set', inner, 'name', 'eth0');
      ip('-n', ns(h), 'addr', 'add', `10.231.0.${index.get(h)!}/24`, 'dev', 'eth0');
      ip('-n', ns(h), 'link', 'set', 'eth0', 'up');
      ip('-n', ns(h), 'link', 'set', 'lo', 'up');
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    exec: (h) => ['ip', 'netns', 'exec', ns(h)],
    address: (h) => `10.231.0.${index.get(h)!}`,
    cut: (h) => ip('-n', sw, 'link', 'set', link(h), 'down'),
    restore: (h) => ip('-n', sw, 'link', 'set', link(h), 'up'),
    destroy,
  };
}
