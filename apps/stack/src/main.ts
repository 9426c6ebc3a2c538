/**
 * `npm start`: everything on one machine with no configuration. Starts a private redis-server (unless
 * REDIS_URL is set) and the embedded S3 endpoint (unless S3_ENDPOINT is set), then the api, worker and
 * dispatcher processes with the bundled model; makes sure an API key exists and prints a curl session
 * (the key's secrets only at the start that creates them).
 * Ctrl-C stops everything cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ConfigError } from '@imagegen/contracts';
import { RedisApiKeyRepository } from '@imagegen/access';
import { connectRedis } from '@imagegen/jobs';

import { loadStackConfig, type StackConfig } from './config.js';
import { withRaisedFdLimit } from './fd-limit.js';
import { startS3Process, type S3Process } from './s3-process.js';
import { REDIS_INSTALL_HELP, redisServerInstalled, startRedisServer } from './redis-server.js';
import { banner, ensureStackKey } from './stack-key.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
let config: StackConfig;
try {
  config = loadStackConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  // Exit 2 with the list of bad variables and no stack trace, like the api, worker and dispatcher.
  process.stderr.write(`${e.message}\n`);
  process.exit(2);
}
const dataDir = config.IMAGEGEN_DATA_DIR;
// The data directory holds secrets (keys, webhook secrets in Redis's AOF, the Redis password) and every
// image: only this user may enter it, and whatever this process or its children create (redis-server,
// the embedded S3 endpoint's objects, the api/worker/dispatcher) is owner-only (issue 17, finding 12).
process.umask(0o077);
mkdirSync(dataDir, { recursive: true, mode: 0o700 });
chmodSync(dataDir, 0o700); // a directory made by an older version, or by hand

const say = (line: string) => process.stderr.write(`[stack] ${line}\n`);

/** Where the `imagegen` command finds this stack (apps/cli/src/stack-file.ts): written at start, removed at exit. */
const stackFile = join(dataDir, 'stack.json');
const children: { name: string; proc: ChildProcess }[] = [];
let redisProc: ChildProcess | undefined;
let s3: S3Process | undefined;
let stopping = false;

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping…');
    await Promise.all(
      children.map(
        ({ proc }) =>
          new Promise<void>((r) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return r();
            proc.once('exit', () => r());
            proc.kill('SIGTERM');
            setTimeout(() => proc.kill('SIGKILL'), 40_000).unref();
          }),
      ),
    );
    await s3?.stop();
    if (redisProc && redisProc.exitCode === null) {
      const exited = new Promise((r) => redisProc!.once('exit', r));
      redisProc.kill('SIGTERM'); // redis flushes its AOF on SIGTERM
      await exited;
    }
    try {
      const written = JSON.parse(readFileSync(stackFile, 'utf8')) as { pid?: unknown };
      if (written.pid === process.pid) rmSync(stackFile, { force: true });
    } catch {
      // not written (yet), or replaced by another stack: not ours to remove
    }
    say('stopped');
  }
  process.exit(code);
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

/** A secret kept in the data directory (mode 0600), created on first use. */
function persistedSecret(file: string, make: () => string): string {
  const path = join(dataDir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return value;
}

async function main(): Promise<void> {
  const childEnv: Record<string, string> = { ...config.childEnv };
  if (!config.REDIS_URL) {
    if (!redisServerInstalled()) {
      process.stderr.write(`${REDIS_INSTALL_HELP}\n`);
      process.exit(1);
    }
    // A password per data directory: without one, any local user could read webhook secrets or mint keys.
    const password = persistedSecret('redis-password', () => randomBytes(24).toString('base64url'));
    const redis = await startRedisServer({ dir: join(dataDir, 'redis'), password });
    redisProc = redis.process;
    redisProc.once('exit', () => void (stopping ? undefined : (say('redis-server exited'), stop(1))));
    childEnv['REDIS_URL'] = redis.url;
    say(
      `redis-server (AOF, password in ${join(dataDir, 'redis-password')}) at redis://127.0.0.1:${redis.port}, ` +
        `data in ${join(dataDir, 'redis')}`,
    );
  }
  if (!config.S3_ENDPOINT) {
    const accessKey = persistedSecret('s3-access-key', () => `ig${randomBytes(8).toString('hex')}`);
    const secretKey = persistedSecret('s3-secret-key', () => randomBytes(24).toString('base64url'));
    // A process of its own, restarted if it dies: its failure cannot stop the other services.
    s3 = await startS3Process({ dir: join(dataDir, 's3'), port: config.S3_PORT, accessKey, secretKey, say });
    Object.assign(childEnv, {
      S3_ENDPOINT: s3.endpoint,
      S3_PUBLIC_ENDPOINT: config.S3_PUBLIC_ENDPOINT ?? s3.endpoint,
      S3_ACCESS_KEY: accessKey,
      S3_SECRET_KEY: secretKey,
    });
    say(
      `embedded S3 endpoint at ${s3.endpoint} (pid ${s3.pid ?? '?'}), data in ${join(dataDir, 's3')} (loopback only)`,
    );
  }
  // The worker finds models pulled with `imagegen models pull` (MODEL_DIR=owner/name) under this directory.
  childEnv['IMAGEGEN_DATA_DIR'] = dataDir;
  if (!config.MODEL_DIR) {
    const bundled = join(root, 'packages/tiny-model/model');
    if (existsSync(join(bundled, 'model_index.json'))) childEnv['MODEL_DIR'] = bundled;
    else {
      childEnv['MODEL_DIR'] = join(root, 'packages/engine/fixtures/tiny-random');
      say('the bundled model is missing: using the random-weight fixture model (its images are noise)');
    }
  }
  childEnv['PORT'] ??= String(config.PORT);
  childEnv['HOST'] ??= config.HOST;
  childEnv['WORKER_PORT'] ??= '0';
  childEnv['DISPATCHER_PORT'] ??= '0';
  const base = `http://${childEnv['HOST'] === '0.0.0.0' ? '127.0.0.1' : childEnv['HOST']}:${childEnv['PORT']}`;
  // The BFL adapter's polling_url: this machine's API unless the operator says where clients reach it.
  childEnv['PUBLIC_BASE_URL'] ??= base;
  writeFileSync(
    stackFile,
    JSON.stringify({
      pid: process.pid,
      baseUrl: base,
      redisUrl: childEnv['REDIS_URL'],
      prefix: config.REDIS_PREFIX,
      apiKeyFile: config.IMAGEGEN_BOOTSTRAP_API_KEY ? null : join(dataDir, 'api-key'),
    }),
    { mode: 0o600 }, // its redisUrl carries the Redis password
  );

  for (const name of ['api', 'worker', 'dispatcher']) {
    // Each service gets its hard descriptor limit as its soft one where the system allows it (the usual
    // soft 1,024 is too few for an API holding long waits and event streams; issue 17, finding 3).
    const proc = spawn(...withRaisedFdLimit(process.execPath, [join(root, `apps/${name}/dist/main.js`)]), {
      env: childEnv,
      stdio: 'inherit',
    });
    proc.once('exit', (code, signal) => {
      if (!stopping) {
        say(`${name} exited (${code ?? signal ?? '?'})`);
        void stop(1);
      }
    });
    children.push({ name, proc });
  }

  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 600) throw new Error('the api did not become ready within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }

  const redis = connectRedis(childEnv['REDIS_URL']!, 'worker');
  const keys = new RedisApiKeyRepository(redis, config.REDIS_PREFIX);
  const keyFile = join(dataDir, 'api-key');
  const key = await ensureStackKey(keys, {
    bootstrapKey: config.IMAGEGEN_BOOTSTRAP_API_KEY,
    webhookSecret: config.IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET,
    keyFile,
  });
  redis.disconnect();
  if (key.revokedAt !== null) {
    // The variable creates the key once; a revocation outlives restarts (issue 17, finding 4).
    say(
      `IMAGEGEN_BOOTSTRAP_API_KEY was revoked at ${new Date(key.revokedAt).toISOString()} and stays revoked; ` +
        'create a key with `npx imagegen keys create --name NAME`',
    );
    say(`imagegen is running at ${base} with no bootstrap key  (Ctrl-C stops everything)`);
    return;
  }
  process.stderr.write(
    banner(key, {
      base,
      keyFile,
      bootstrap: Boolean(config.IMAGEGEN_BOOTSTRAP_API_KEY),
      webhookSecretSet: Boolean(config.IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET),
      allowlist: config.IMAGEGEN_WEBHOOK_ALLOWLIST,
    }) + '\n',
  );
}

main().catch((e: unknown) => {
  say(`failed to start: ${e instanceof Error ? e.message : String(e)}`);
  void stop(1);
});
