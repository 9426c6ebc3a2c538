import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const REDIS_INSTALL_HELP = `redis-server is not installed and REDIS_URL is not set.
Install it, then run npm start again:
  Debian/Ubuntu:  sudo apt-get install -y redis-server
  Fedora:         sudo dnf install -y redis
  macOS:          brew install redis
or point REDIS_URL at an existing Redis (6.2+, maxmemory-policy noeviction).`;

export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * A private redis-server on loopback, persisting to `dir` (AOF unless `appendonly` is false), ready to take
 * clients when the promise resolves. Used by `npm start` and by the tests.
 *
 * With `password`, clients must authenticate (the URL carries it). The password goes to redis-server in a
 * configuration file readable only by its owner, never on the command line, where `ps` shows it to every
 * local user.
 */
export async function startRedisServer(options: {
  dir: string;
  port?: number;
  appendonly?: boolean;
  password?: string;
}): Promise<{ url: string; port: number; process: ChildProcess }> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const port = options.port ?? (await freePort());
  const aof = options.appendonly ?? true;
  const conf: string[] = [];
  if (options.password !== undefined) {
    if (!/^[A-Za-z0-9_-]{16,}$/.test(options.password))
      throw new Error('the redis password must be 16 or more characters of [A-Za-z0-9_-]');
    const file = join(options.dir, 'redis.conf');
    writeFileSync(file, `requirepass ${options.password}\n`, { mode: 0o600 });
    conf.push(file);
  }
  const child = spawn(
    'redis-server',
    [
      ...conf,
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir, '--save', ''],
      ...[
        '--appendonly',
        aof ? 'yes' : 'no',
        '--appendfsync',
        'everysec',
        '--maxmemory-policy',
        'noeviction',
      ],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 15_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${why}:\n${out}`));
    };
    child.once('error', (e) => fail(`cannot run redis-server (${e.message})`));
    child.once('exit', (code) => fail(`redis-server exited (${code ?? 'signal'})`));
    const collect = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        // Keep draining the pipes, without keeping what they say.
        child.stdout.off('data', collect).resume();
        child.stderr.off('data', collect).resume();
        resolve();
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
  });
  const auth = options.password === undefined ? '' : `:${options.password}@`;
  return { url: `redis://${auth}127.0.0.1:${port}`, port, process: child };
}
