import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from '../../apps/stack/src/redis-server.js';

export { freePort };

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  stop: () => Promise<void>;
}

/** Starts a private `redis-server` on 127.0.0.1 (installed by .ci/run) and waits until it accepts clients. */
export async function startRedis(
  options: { appendonly?: boolean; dir?: string; port?: number } = {},
): Promise<RedisServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'imagegen-redis-'));
  const port = options.port ?? (await freePort());
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
  ];
  args.push('--appendonly', options.appendonly ? 'yes' : 'no');
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run redis-server (apt-get install redis-server): ${e.message}`));
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  };
  return { url: `redis://127.0.0.1:${port}`, port, dir, process: child, stop };
}
