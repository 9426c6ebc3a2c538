import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './redis.js';

/**
 * Real Redis topologies on loopback for the tests: single nodes with extra arguments, a Cluster of
 * primaries created with `redis-cli --cluster create`, a primary with a replica under three sentinels.
 * Every process is Debian's `redis-server`/`redis-sentinel` on ports chosen at run time; every wait is
 * bounded.
 */

export interface RedisNode {
  port: number;
  process: ChildProcess;
  /** Output so far (the last 20 kB), for failure messages. */
  log: () => string;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}

/** Starts `command` (redis-server or redis-sentinel) and waits until its output contains `ready`. */
export async function startNode(
  command: string,
  args: string[],
  ready: RegExp,
  port: number,
): Promise<RedisNode> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(`${command} on port ${port} did not start within 20 s`), 20_000);
    const check = setInterval(() => {
      if (ready.test(out)) done();
    }, 20);
    const cleanup = () => {
      clearTimeout(timer);
      clearInterval(check);
      child.off('error', onError);
      child.off('exit', onExit);
    };
    const done = () => {
      cleanup();
      resolve();
    };
    const fail = (why: string) => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${why}:\n${out}`));
    };
    const onError = (e: Error) => fail(`cannot run ${command} (${e.message})`);
    const onExit = (code: number | null) => fail(`${command} exited (${code ?? 'signal'})`);
    child.once('error', onError);
    child.once('exit', onExit);
  });
  return {
    port,
    process: child,
    log: () => out,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await gone;
    },
  };
}

const serverArgs = (port: number, dir: string) => [
  ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
  ...['--appendonly', 'no', '--maxmemory-policy', 'noeviction'],
];

/** `redis-cli` against a port; throws its output when it fails. */
export function redisCli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function bounded<T>(what: string, ms: number, fn: () => T | null | undefined | false): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface RedisCluster {
  nodes: RedisNode[];
  /** `host:port,…` of every primary, for REDIS_CLUSTER_NODES. */
  seeds: string;
  /** The node serving `slot`. */
  ownerOf: (slot: number) => RedisNode;
  stop: () => Promise<void>;
}

/** `primaries` cluster-enabled redis-servers joined into one Cluster that covers every slot. */
export async function startCluster(primaries = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'imagegen-cluster-'));
  const nodes: RedisNode[] = [];
  try {
    for (let i = 0; i < primaries; i++) {
      const port = await freePort();
      nodes.push(
        await startNode(
          'redis-server',
          [
            ...serverArgs(port, dir),
            ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`],
            ...['--cluster-node-timeout', '3000'],
          ],
          /Ready to accept connections/,
          port,
        ),
      );
    }
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    spawnSync('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    await bounded('every cluster node to report cluster_state:ok', 30_000, () =>
      nodes.every((n) => redisCli(n.port, 'cluster', 'info').includes('cluster_state:ok')),
    );
    const ranges: { from: number; to: number; node: RedisNode }[] = [];
    for (const line of redisCli(nodes[0]!.port, 'cluster', 'nodes').trim().split('\n')) {
      const parts = line.split(' ');
      const port = Number(/:(\d+)@/.exec(parts[1] ?? '')?.[1]);
      const node = nodes.find((n) => n.port === port)!;
      for (const r of parts.slice(8)) {
        const [from, to = from] = r.split('-').map(Number);
        ranges.push({ from: from!, to: to!, node });
      }
    }
    return {
      nodes,
      seeds: seeds.join(','),
      ownerOf: (slot) => ranges.find((r) => slot >= r.from && slot <= r.to)!.node,
      stop: async () => {
        await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface SentinelSet {
  primary: RedisNode;
  replica: RedisNode;
  sentinels: RedisNode[];
  /** The monitored primary's name (REDIS_SENTINEL_NAME). */
  name: string;
  /** `127.0.0.1:port,…` of the sentinels (REDIS_SENTINELS). */
  addresses: string;
  /** The port of the primary as the sentinels see it now. */
  currentPrimaryPort: () => number;
  stop: () => Promise<void>;
}

/**
 * A primary, its replica and three sentinels (quorum 2; `sentinels: 0` for none) that declare the primary
 * down after `downAfterMs` without an answer and then promote the replica.
 */
export async function startSentinelSet(
  options: { downAfterMs?: number; sentinels?: number } = {},
): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'imagegen-sentinel-'));
  const started: RedisNode[] = [];
  const name = 'imagegen-primary';
  try {
    const pPort = await freePort();
    const primary = await startNode(
      'redis-server',
      serverArgs(pPort, join(dir)),
      /Ready to accept connections/,
      pPort,
    );
    started.push(primary);
    const rPort = await freePort();
    const replica = await startNode(
      'redis-server',
      [...serverArgs(rPort, dir), '--replicaof', '127.0.0.1', String(pPort), '--dbfilename', `r${rPort}.rdb`],
      /MASTER <-> REPLICA sync: Finished with success/,
      rPort,
    );
    started.push(replica);
    const sentinels: RedisNode[] = [];
    for (let i = 0; i < (options.sentinels ?? 3); i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${pPort} 2`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const s = await startNode('redis-sentinel', [conf], /\+monitor master/, port);
      started.push(s);
      sentinels.push(s);
    }
    // Every sentinel must know the replica and the other sentinels before a failover can be elected.
    await bounded('the sentinels to know the replica and each other', 30_000, () =>
      sentinels.every((s) => {
        const info = redisCli(s.port, 'sentinel', 'master', name);
        const field = (f: string) => Number(new RegExp(`^${f}\\n(\\d+)$`, 'm').exec(info)?.[1] ?? 0);
        return field('num-slaves') >= 1 && field('num-other-sentinels') >= sentinels.length - 1;
      }),
    );
    return {
      primary,
      replica,
      sentinels,
      name,
      addresses: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      currentPrimaryPort: () =>
        Number(redisCli(sentinels[0]!.port, 'sentinel', 'get-master-addr-by-name', name).split('\n')[1]),
      stop: async () => {
        await Promise.all(started.map((n) => n.kill('SIGKILL')));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.all(started.map((n) => n.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
