import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import { verifyWebhook } from '@imagegen/webhooks';

import { until } from './support/processes.js';
import { startReceiver } from './support/receiver.js';
import { freePort } from './support/redis.js';

const STACK = fileURLToPath(new URL('../apps/stack/dist/main.js', import.meta.url));
const parent = mkdtempSync(join(tmpdir(), 'imagegen-stack-'));
// Not made by the test: the stack creates it, with the permissions it chooses.
const dataDir = join(parent, 'data');
afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** Every path under `dir` (itself included) that its group or other users may read, write or enter. */
function openToOthers(dir: string): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) found.push(`${path} (${(st.mode & 0o777).toString(8)})`);
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return found;
}

/** The pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // The parent pid is the second field after the parenthesised command name.
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** A process's command line, or '' once it is gone. */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** A process's open-files limits, [soft, hard]. */
function openFileLimits(pid: number): [string, string] {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return [m![1]!, m![2]!];
}

/** What redis-server answers a client that sends PING without authenticating. */
async function unauthenticatedPing(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().trim());
    });
    socket.once('error', reject);
  });
}

describe('npm start (the all-in-one stack)', () => {
  it('runs redis, S3, api, worker and dispatcher, serves a generation and its webhook, and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const key = `ig_0123456789ab_${'k'.repeat(43)}`;
    const webhookSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const receiver = await startReceiver();
    // Started with a low soft open-files limit (256; 1,024 is a common default), which its services must not keep.
    const proc = spawn('/bin/sh', ['-c', 'ulimit -S -n 256 && exec "$0" "$@"', process.execPath, STACK], {
      env: {
        ...process.env,
        IMAGEGEN_DATA_DIR: dataDir,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        IMAGEGEN_BOOTSTRAP_API_KEY: key,
        IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET: webhookSecret,
        IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    // Started when it says so on stderr; an exit before that fails at once with what it printed.
    const running = new Promise<void>((resolve, reject) => {
      proc.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('imagegen is running')) resolve();
      });
      void exited.then((code) =>
        reject(new Error(`the stack exited (${String(code)}) before starting:\n${stderr}`)),
      );
    });
    try {
      await running;
      // The operator gave both secrets: the banner names them and prints neither.
      expect(stderr).toContain('API key: IMAGEGEN_BOOTSTRAP_API_KEY (id 0123456789ab)');
      expect(stderr).not.toContain(key);
      expect(stderr).not.toContain(webhookSecret);
      expect(stderr).toContain(`curl -s http://127.0.0.1:${port}/v1/images/generations`);
      // The playground is served at /, its images allowed from the embedded S3 endpoint by the CSP.
      expect(stderr).toContain(`echo "http://127.0.0.1:${port}/#key=$IMAGEGEN_BOOTSTRAP_API_KEY"`);
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>imagegen playground</title>');
      const res = await fetch(`http://127.0.0.1:${port}/v1/images/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', prefer: 'wait=60' },
        body: JSON.stringify({
          prompt: 'A red circle',
          aspect_ratio: '1:1',
          seed: 42,
          webhook_url: receiver.url,
        }),
      });
      expect(res.status).toBe(200);
      const job = (await res.json()) as { status: string; image_url: string };
      expect(job.status).toBe('succeeded');
      const s3Origin = new URL(job.image_url).origin;
      expect(page.headers.get('content-security-policy')).toContain(`img-src 'self' data: ${s3Origin}`);
      const meta = await sharp(Buffer.from(await (await fetch(job.image_url)).arrayBuffer())).metadata();
      expect([meta.width, meta.height, meta.format]).toEqual([1024, 1024, 'jpeg']);
      const d = await until('the webhook delivery', () => receiver.deliveries[0]);
      const body = verifyWebhook(d.headers, d.body, webhookSecret) as {
        type: string;
        data: { status: string };
      };
      expect(body.type).toBe('image.generation.succeeded');

      // Issue 17, finding 12: no other local user can read the data directory or talk to its Redis.
      expect(openToOthers(dataDir)).toEqual([]);
      const stack = JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8')) as { redisUrl: string };
      const redisUrl = new URL(stack.redisUrl);
      expect(redisUrl.password.length).toBeGreaterThanOrEqual(16);
      expect(await unauthenticatedPing(Number(redisUrl.port))).toMatch(/^-NOAUTH/);
      expect(stderr).not.toContain(redisUrl.password);

      // Issue 17, finding 2: the S3 endpoint is a process of its own; killed, it comes back and the other
      // services never stopped.
      const s3Pid = () => childrenOf(proc.pid!).find((pid) => cmdline(pid).includes('s3-lite/dist/main.js'));
      const firstS3 = s3Pid()!;
      expect(firstS3).toBeDefined();
      process.kill(firstS3, 'SIGKILL');
      await until('a new S3 process', () => {
        const pid = s3Pid();
        return pid !== undefined && pid !== firstS3;
      });
      const again = await until('a generation after the S3 restart', async () => {
        const r = await fetch(`http://127.0.0.1:${port}/v1/images/generations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', prefer: 'wait=60' },
          body: JSON.stringify({ prompt: 'A blue square', aspect_ratio: '1:1', seed: 7 }),
        });
        const j = (await r.json()) as { status: string; image_url: string };
        return j.status === 'succeeded' ? j : null;
      });
      expect((await fetch(again.image_url)).status).toBe(200);
      expect(stderr).toContain('the S3 endpoint exited');

      // Issue 17, finding 3: each service runs with its hard open-files limit as its soft one.
      const services = childrenOf(proc.pid!).filter((pid) =>
        /\/(apps\/(api|worker|dispatcher)|packages\/s3-lite)\/dist\/main\.js/.test(cmdline(pid)),
      );
      expect(services).toHaveLength(4);
      for (const pid of services) {
        const [soft, hard] = openFileLimits(pid);
        expect(soft).toBe(hard);
        expect(soft).not.toBe('256');
      }
    } finally {
      proc.kill('SIGINT');
      await receiver.close();
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain('[stack] stopped');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('explains how to install redis-server when it is missing and REDIS_URL is unset', () => {
    const r = spawnSync(process.execPath, [STACK], {
      env: { PATH: '/nonexistent', IMAGEGEN_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('redis-server is not installed and REDIS_URL is not set');
    expect(r.stderr).toContain('sudo apt-get install -y redis-server');
  });
});
