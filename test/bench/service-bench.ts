/**
 * `npm run bench:service`: the API's submission throughput and latency next to raw BullMQ `Queue.add` in the
 * same run; the latency the service adds around generation (client submit → result readable, minus the
 * engine's own time) at light and heavy load; API and worker memory. Everything runs on loopback: a private
 * redis-server, the embedded S3 endpoint, and the compiled api and worker as child processes.
 *
 *   npm run bench:service -- [--submits 2000] [--connections 16] [--jobs 24] [--model DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';

import { Queue } from 'bullmq';

import { RedisApiKeyRepository } from '@imagegen/access';
import { loadApiConfig, startApi } from '@imagegen/api';
import { connectRedis, Keys } from '@imagegen/jobs';

import { startS3, S3_CREDENTIALS } from '../support/s3.js';
import { freePort, startRedis } from '../support/redis.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    submits: { type: 'string', default: '2000' },
    'profile-submits': { type: 'string', default: '500' },
    connections: { type: 'string', default: '16' },
    jobs: { type: 'string', default: '24' },
    model: { type: 'string', default: join(root, 'packages/engine/fixtures/tiny-random') },
  },
});
const SUBMITS = Number(values.submits);
const CONNS = Number(values.connections);
const JOBS = Number(values.jobs);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const f = (v: number, d = 1) => v.toFixed(d);
const rss = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return `${f(kb('VmRSS'), 0)} MiB now, ${f(kb('VmHWM'), 0)} MiB peak`;
};

/** Runs `fn` `total` times with `concurrency` in flight; returns per-call ms and the wall time. */
async function load(total: number, concurrency: number, fn: (i: number) => Promise<void>) {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await fn(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, wallMs: performance.now() - t0 };
}

const redis = await startRedis();
const s3 = await startS3();
const port = await freePort();
const prefix = `bench${randomUUID().slice(0, 6)}`;
const env = {
  ...process.env,
  REDIS_URL: redis.url,
  REDIS_PREFIX: prefix,
  S3_ENDPOINT: s3.server.endpoint,
  S3_ACCESS_KEY: S3_CREDENTIALS.accessKey,
  S3_SECRET_KEY: S3_CREDENTIALS.secretKey,
  S3_BUCKET: 'bench',
  PORT: String(port),
  HOST: '127.0.0.1',
  WORKER_PORT: '0',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_MINUTE: '10000000',
  CONCURRENCY_LIMIT: '1000000',
  QUEUE_MAX_WAITING: '0',
  MODEL_DIR: values.model,
};
const procs: ChildProcess[] = [];
const start = (name: string) => {
  const p = spawn(process.execPath, [join(root, `apps/${name}/dist/main.js`)], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  procs.push(p);
  return p;
};
const base = `http://127.0.0.1:${port}`;
try {
  const api = start('api');
  while (
    !(await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await new Promise((r) => setTimeout(r, 100));
  const admin = connectRedis(redis.url, 'worker');
  const { secret } = await new RedisApiKeyRepository(admin, prefix).create('bench');
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const submit = async (body: object, extra: Record<string, string> = {}) => {
    const r = await fetch(`${base}/v1/images/generations`, {
      method: 'POST',
      headers: { ...headers, ...extra },
      body: JSON.stringify(body),
    });
    const j = (await r.json()) as Record<string, unknown>;
    if (r.status !== 202 && r.status !== 200)
      throw new Error(`submit failed: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };

  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; redis-server, S3 endpoint, api and worker on loopback`,
  );
  console.log(`\n1. Submissions (no worker running, ${SUBMITS} requests, ${CONNS} in flight)`);
  await load(200, CONNS, () => submit({ prompt: 'warm-up' }).then(() => undefined));
  const viaApi = await load(SUBMITS, CONNS, (i) =>
    submit({ prompt: `bench ${i}`, aspect_ratio: '1:1' }).then(() => undefined),
  );
  const raw = new Queue('raw-bench', { connection: admin, prefix: `${new Keys(prefix).prefix}:raw` });
  await load(200, CONNS, (i) => raw.add('x', { i }).then(() => undefined));
  const viaQueue = await load(SUBMITS, CONNS, (i) =>
    raw
      .add('x', { id: `raw${i}`, keyId: 'k', objectKey: 'images/x.jpg' }, { jobId: `raw${i}` })
      .then(() => undefined),
  );
  await raw.close();
  console.log(['path', 'submits/s', 'p50 ms', 'p99 ms'].join('\t'));
  console.log(
    [
      'POST /v1/images/generations',
      f(SUBMITS / (viaApi.wallMs / 1000), 0),
      f(pct(viaApi.lat, 50), 2),
      f(pct(viaApi.lat, 99), 2),
    ].join('\t'),
  );
  console.log(
    [
      'BullMQ Queue.add (same Redis)',
      f(SUBMITS / (viaQueue.wallMs / 1000), 0),
      f(pct(viaQueue.lat, 50), 2),
      f(pct(viaQueue.lat, 99), 2),
    ].join('\t'),
  );
  console.log(
    `API/raw throughput ratio ${f(SUBMITS / viaApi.wallMs / (SUBMITS / viaQueue.wallMs), 2)}; API RSS ${rss(api.pid!)}`,
  );
  await profileSubmits(env, secret);

  // Drain the backlog so latency runs start from an empty queue.
  const keys = new Keys(prefix);
  await admin.del(keys.waiting(), keys.enqueueIntents());
  await new Queue('generations', { connection: admin, prefix: keys.bullPrefix() }).obliterate({
    force: true,
  });

  const worker = start('worker');
  // The worker is ready once it has taken and finished a job.
  const first = await submit({ prompt: 'ready?', aspect_ratio: '1:1' }, { prefer: 'wait=120' });
  if (first['status'] !== 'succeeded') throw new Error('worker did not start');

  const overhead = async (n: number, concurrent: boolean) => {
    const rows: { total: number; engine: number; queue: number }[] = [];
    const one = async (i: number) => {
      const t0 = performance.now();
      const job = await submit(
        { prompt: `latency ${i}`, aspect_ratio: '1:1', seed: i },
        { prefer: 'wait=60' },
      );
      let j = job;
      while (j['status'] !== 'succeeded') {
        j = (await (
          await fetch(`${base}/v1/images/generations/${String(job['id'])}?wait=60`, { headers })
        ).json()) as Record<string, unknown>;
      }
      const total = performance.now() - t0;
      const t = j['timings_ms'] as Record<string, number>;
      rows.push({
        total,
        engine: (t['generate'] ?? 0) + (t['upscale'] ?? 0) + (t['safety'] ?? 0) + (t['encode'] ?? 0),
        queue: t['queue'] ?? 0,
      });
    };
    if (concurrent) await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
    else for (let i = 0; i < n; i++) await one(i);
    return rows;
  };
  console.log(
    `\n2. Latency added around generation (1 worker; added = client submit → result readable − engine time)`,
  );
  console.log(
    ['load', 'jobs', 'engine p50 ms', 'added p50 ms', 'added p99 ms', 'added − queue wait p50', 'p99'].join(
      '\t',
    ),
  );
  for (const [name, n, concurrent] of [
    ['light (one at a time)', JOBS, false],
    [`heavy (${JOBS} at once)`, JOBS, true],
  ] as const) {
    const rows = await overhead(n, concurrent);
    const added = rows.map((r) => r.total - r.engine);
    const net = rows.map((r) => r.total - r.engine - r.queue);
    console.log(
      [
        name,
        n,
        f(
          pct(
            rows.map((r) => r.engine),
            50,
          ),
        ),
        f(pct(added, 50)),
        f(pct(added, 99)),
        f(pct(net, 50)),
        f(pct(net, 99)),
      ].join('\t'),
    );
  }
  console.log(`\nRSS: api ${rss(api.pid!)}; worker ${rss(worker.pid!)}`);
  admin.disconnect();
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(
    procs.map((p) => new Promise((r) => (p.exitCode === null ? p.once('exit', r) : r(null)))),
  );
  await s3.stop();
  await redis.stop();
}

/**
 * Where one submit's CPU time goes: an in-process API (same code, same Redis) under the V8 sampling
 * profiler (node:inspector), `profile-submits` submits with 16 in flight; self time summed by module and by
 * function, per submit. The client's own fetch (undici) runs in this process too and is listed apart.
 */
async function profileSubmits(env: Record<string, string | undefined>, secret: string) {
  const n = Number(values['profile-submits']);
  const inProcess = await startApi(
    loadApiConfig({ ...(env as Record<string, string>), PORT: '0', LOG_LEVEL: 'silent' }),
  );
  const at = `http://127.0.0.1:${inProcess.port}/v1/images/generations`;
  const post = (i: number) =>
    fetch(at, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: `profile ${i}`, aspect_ratio: '1:1' }),
    }).then(async (r) => {
      await r.arrayBuffer();
      if (r.status !== 202) throw new Error(`profile submit ${r.status}`);
    });
  await load(200, CONNS, post);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const run = await load(n, CONNS, post);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  await inProcess.close();
  const self = new Map<number, number>();
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (deltas[i] ?? 0) / 1000));
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let idle = 0;
  for (const node of profile.nodes) {
    const ms = self.get(node.id) ?? 0;
    if (ms === 0) continue;
    const { url, functionName, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += ms;
      continue;
    }
    const module = moduleOf(url, functionName);
    byModule.set(module, (byModule.get(module) ?? 0) + ms);
    const fn = `${functionName || '(anonymous)'} ${module}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  }
  const busy = [...byModule.values()].reduce((a, b) => a + b, 0);
  const client = byModule.get('undici (the bench client)') ?? 0;
  console.log(
    `\n3. CPU profile of the submit path (in-process API, ${n} submits, ${CONNS} in flight, ${f(n / (run.wallMs / 1000), 0)} submits/s): ` +
      `${f(busy / n, 3)} ms CPU per submit, of which the bench client's fetch ${f(client / n, 3)} ms; idle ${f(idle / n, 3)} ms`,
  );
  const top = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, ms]) => `  ${f(ms / n, 3)} ms  ${f((100 * ms) / busy, 1)} %  ${name}`)
      .join('\n');
  console.log(`by module (self time per submit):\n${top(byModule, 12)}`);
  console.log(`by function (self time per submit):\n${top(byFunction, 15)}`);
}

/** A profile node's module: a package under node_modules, one of ours, Node's own, or V8's bookkeeping. */
function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? `V8 ${functionName}` : 'V8 built-ins';
  if (url.includes('undici')) return 'undici (the bench client)';
  if (url.startsWith('node:')) return 'node internals';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (dep) return dep;
  const ours = /\/(apps|packages)\/([^/]+)\//.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  return url.split('/').slice(-2).join('/');
}
