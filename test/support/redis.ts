import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, startRedisServer } from '../../apps/stack/src/redis-server.js';

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
  const {
    url,
    port,
    process: child,
  } = await startRedisServer({
    dir,
    appendonly: options.appendonly ?? false,
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  };
  return { url, port, dir, process: child, stop };
}
