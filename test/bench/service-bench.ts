/**
 * `npm run bench:service`: the API's submission throughput and latency next to raw BullMQ `Queue.add` in the
 * same run; the latency the service adds around generation (client submit → result readable, minus the
 * engine's own time) at light and heavy load; API and worker memory. Everything runs on loopback: a private
 * redis-server, the embedded S3 endpoint, and the compiled api and worker as child processes.
 *
 *   npm run bench:service -- [--submits 4000] [--profile-submits 2000] [--connections 16] [--jobs 24] [--model DIR]
 *
 * Each phase submits with an API key of its own and stays under a key's 5000 retained jobs (see below).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';

import { Queue } from 'bullmq';

import { RedisApiKeyRepository } from '@imagegen/access';
import { connectRedis, Keys } from '@imagegen/jobs';

import { startS3, S3_CREDENTIALS } from '../support/s3.js';
import { freePort, startRedis } from '../support/redis.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    submits: { type: 'string', default: '4000' },
    'profile-submits': { type: 'string', default: '2000' },
    connections: { type: 'string', default: '16' },
    jobs: { type: 'string', default: '24' },
    model: { type: 'string', default: join(root, 'packages/engine/fixtures/tiny-random') },
  },
});
const SUBMITS = Number(values.submits);
if (!(SUBMITS + 2 * Number(values.jobs) <= 4900) || Number(values['profile-submits']) > 4900)
  throw new Error('--submits (plus 2 × --jobs) and --profile-submits must stay within 4900');
/**
 * Requests each path gets before it is measured: V8 optimises a function only after many calls, and a
 * long-running API runs optimised code; 500 left the API's CPU per submit about 40 % above its steady state.
 */
const WARM_UP = 3000;
/** The profilers' sampling interval, µs. */
const PROFILE_INTERVAL_US = 200;
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

/** CPU time (user + system) a process has used, in ms, from /proc (clock ticks of 10 ms). */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
/** CPU ms used by each named process (this one: the bench client) while `fn` runs. */
async function withCpu<T>(pids: Record<string, number>, fn: () => Promise<T>) {
  const before = Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)] as const);
  const self = process.cpuUsage();
  const result = await fn();
  const used = process.cpuUsage(self);
  const cpu: Record<string, number> = { client: (used.user + used.system) / 1000 };
  for (const [k, ms] of before) cpu[k] = cpuMs(pids[k]!) - ms;
  return { result, cpu };
}

/**
 * The load generator: node:http over a keep-alive Agent holding at most `sockets` connections, each
 * carrying one request at a time (HTTP/1.1 as SDKs send it). Cheaper per request than fetch, whose Web
 * streams, AbortSignal and Request clone cost the bench client about 0.3 ms of CPU a submit that the API
 * and Redis then could not use on a 2-core machine.
 */
function httpClient(base: string, sockets: number) {
  const url = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const call = (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
    /** A load request: with this status, the body is discarded unread (a load tool checks the status). */
    expect?: number,
  ): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent,
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          if (res.statusCode === expect) {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: '' }));
            res.on('error', reject);
            return;
          }
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return { call, close: () => agent.destroy() };
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
const start = (name: string, nodeArgs: string[] = [], extraEnv: Record<string, string> = {}) => {
  const p = spawn(process.execPath, [...nodeArgs, join(root, `apps/${name}/dist/main.js`)], {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  procs.push(p);
  return p;
};
const stop = async (p: ChildProcess) => {
  if (p.exitCode === null && p.signalCode === null) {
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
};
const untilReady = async (client: ReturnType<typeof httpClient>) => {
  while (
    !(await client.call('GET', '/readyz', {}).then(
      (r) => r.status === 200,
      () => false,
    ))
  )
    await new Promise((r) => setTimeout(r, 100));
};
const redisPid = redis.process.pid!;
try {
  const api = start('api');
  const client = httpClient(`http://127.0.0.1:${port}`, CONNS);
  await untilReady(client);
  const admin = connectRedis(redis.url, 'worker');
  const { secret } = await new RedisApiKeyRepository(admin, prefix).create('bench');
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const submitVia = async (
    via: ReturnType<typeof httpClient>,
    body: object,
    extra: Record<string, string> = {},
    expect?: number,
  ) => {
    const r = await via.call(
      'POST',
      '/v1/images/generations',
      { ...headers, ...extra },
      JSON.stringify(body),
      expect,
    );
    if (r.status !== 202 && r.status !== 200) throw new Error(`submit failed: ${r.status} ${r.body}`);
    return r.body;
  };
  const submit = async (body: object, extra: Record<string, string> = {}) =>
    JSON.parse(await submitVia(client, body, extra)) as Record<string, unknown>;

  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load average ${loadavg()
      .map((l) => f(l, 2))
      .join(' ')}; redis-server, S3 endpoint, api and worker on loopback`,
  );
  console.log(
    `\n1. Submissions (no worker running, ${SUBMITS} requests, ${CONNS} in flight; client: node:http, keep-alive, status checked, body discarded)`,
  );
  // The warm-up submits with a key of its own (a key retains its newest 5000 jobs; see profileSubmits).
  const warmHeaders = {
    authorization: `Bearer ${(await new RedisApiKeyRepository(admin, prefix).create('warm-up')).secret}`,
  };
  await load(WARM_UP, CONNS, (i) =>
    submitVia(client, { prompt: `warm-up ${i}` }, warmHeaders, 202).then(() => undefined),
  );
  const viaApi = await withCpu({ api: api.pid!, redis: redisPid }, () =>
    load(SUBMITS, CONNS, (i) =>
      submitVia(client, { prompt: `bench ${i}`, aspect_ratio: '1:1' }, {}, 202).then(() => undefined),
    ),
  );
  // Raw BullMQ as before: a plain add with the job's id and payload, no options, 16 in flight from this process.
  const raw = new Queue('raw-bench', { connection: admin, prefix: `${new Keys(prefix).prefix}:raw` });
  const add = (i: number, tag: string) =>
    raw
      .add('generate', { id: `${tag}${i}`, keyId: 'k', objectKey: 'images/x.jpg' }, { jobId: `${tag}${i}` })
      .then(() => undefined);
  await load(WARM_UP, CONNS, (i) => add(i, 'warm'));
  const viaQueue = await withCpu({ redis: redisPid }, () => load(SUBMITS, CONNS, (i) => add(i, 'raw')));
  await raw.close();
  // The floor under any submit here: servers that parse the JSON and answer 202, doing nothing else.
  const floors: [string, Awaited<ReturnType<typeof measureFloor>>][] = [];
  for (const mode of ['node', 'express'] as const) floors.push([mode, await measureFloor(mode)]);
  const perSubmit = (cpu: Record<string, number>) =>
    Object.entries(cpu)
      .map(([k, ms]) => `${k} ${f(ms / SUBMITS, 3)}`)
      .join(', ');
  console.log(['path', 'submits/s', 'p50 ms', 'p99 ms', 'CPU ms per submit'].join('\t'));
  const row = (name: string, r: typeof viaApi) =>
    console.log(
      [
        name,
        f(SUBMITS / (r.result.wallMs / 1000), 0),
        f(pct(r.result.lat, 50), 2),
        f(pct(r.result.lat, 99), 2),
        perSubmit(r.cpu),
      ].join('\t'),
    );
  row('POST /v1/images/generations', viaApi);
  row('BullMQ Queue.add (same Redis)', viaQueue);
  row('floor: node:http, parse and answer 202', floors[0]![1]);
  row('floor: express + express.json, same', floors[1]![1]);
  console.log(
    `API/raw throughput ratio ${f(viaQueue.result.wallMs / viaApi.result.wallMs, 2)} ` +
      `(the floors' ratios: node:http ${f(viaQueue.result.wallMs / floors[0]![1].result.wallMs, 2)}, ` +
      `express ${f(viaQueue.result.wallMs / floors[1]![1].result.wallMs, 2)}); API RSS ${rss(api.pid!)}`,
  );
  // What the CPU figures say: where CPU is the limit (as on this shared 2-core machine) the two rates tend
  // to the inverse of each path's CPU in all processes; with API processes on cores enough, Redis's one
  // thread is the limit, at the inverse of its own time per operation.
  const perOp = (r: typeof viaApi) => Object.values(r.cpu).reduce((a, b) => a + b, 0) / SUBMITS;
  const redisSubmit = viaApi.cpu['redis']! / SUBMITS;
  const redisAdd = viaQueue.cpu['redis']! / SUBMITS;
  const rawRate = SUBMITS / (viaQueue.result.wallMs / 1000);
  console.log(
    `CPU per operation, all processes: submit ${f(perOp(viaApi), 3)} ms, raw add ${f(perOp(viaQueue), 3)} ms ` +
      `(CPU-bound ratio ${f(perOp(viaQueue) / perOp(viaApi), 2)}); redis-server's own: submit ${f(redisSubmit, 3)} ms, ` +
      `add ${f(redisAdd, 3)} ms: with API processes on cores enough, Redis allows ${f(1000 / redisSubmit, 0)} submits/s ` +
      `(ratio ${f(1000 / redisSubmit / rawRate, 2)} to this run's raw rate, ${f(redisAdd / redisSubmit, 2)} to adds bound by Redis too)`,
  );
  // A key of its own: a key retains its newest 5000 jobs (MAX_RETAINED_JOBS_PER_KEY), and past that each
  // submit scans up to 100 of its oldest for finished ones to purge; with no worker running, none is.
  const apiKeys = new RedisApiKeyRepository(admin, prefix);
  await profileSubmits(
    (await apiKeys.create('profile')).secret,
    (await apiKeys.create('profile warm-up')).secret,
  );

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
    // Prompts of their own per run: an identical request with the same seed would be answered from the
    // first one's result (result reuse) and measure no generation.
    const run = randomUUID().slice(0, 8);
    const rows: { total: number; engine: number; queue: number }[] = [];
    // Waits hold their connection: one per job in flight.
    const waiting = httpClient(`http://127.0.0.1:${port}`, n);
    const one = async (i: number) => {
      const t0 = performance.now();
      const job = JSON.parse(
        await submitVia(
          waiting,
          { prompt: `latency ${run} ${i}`, aspect_ratio: '1:1', seed: i },
          { prefer: 'wait=60' },
        ),
      ) as Record<string, unknown>;
      let j = job;
      while (j['status'] !== 'succeeded') {
        const r = await waiting.call('GET', `/v1/images/generations/${String(job['id'])}?wait=60`, headers);
        j = JSON.parse(r.body) as Record<string, unknown>;
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
    waiting.close();
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
  client.close();
  admin.disconnect();
} finally {
  await Promise.all(procs.map(stop));
  await s3.stop();
  await redis.stop();
}

/** Starts an http-floor.ts server, sends it the submits' load with the same client, stops it. */
async function measureFloor(mode: 'node' | 'express') {
  const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/bench/http-floor.ts'), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  procs.push(server);
  const floorPort = await new Promise<number>((resolve, reject) => {
    server.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    server.once('exit', (code) => reject(new Error(`http-floor ${mode} exited ${code}`)));
  });
  const via = httpClient(`http://127.0.0.1:${floorPort}`, CONNS);
  const post = (i: number) =>
    via
      .call(
        'POST',
        '/v1/images/generations',
        { authorization: 'Bearer x', 'content-type': 'application/json' },
        JSON.stringify({ prompt: `floor ${i}`, aspect_ratio: '1:1' }),
        202,
      )
      .then((r) => {
        if (r.status !== 202) throw new Error(`floor ${mode}: ${r.status}`);
      });
  await load(WARM_UP, CONNS, post);
  const measured = await withCpu({ server: server.pid! }, () => load(SUBMITS, CONNS, post));
  via.close();
  await stop(server);
  return measured;
}

/**
 * Where one submit's CPU time goes: a second API process (same build, same Redis) under V8's sampling
 * profiler (`--cpu-prof`), `profile-submits` submits with the same client and concurrency, while this
 * process (the client) profiles itself through node:inspector. Only samples taken during the measured
 * submits count (both profilers' clocks are the monotonic clock). Per submit: the API's self time by
 * module (a native frame such as a socket write, or Node's own HTTP and stream code, is charged to the
 * package whose call led to it, so `writeUtf8String` under an ioredis command counts as ioredis) and by
 * function; the client's total apart.
 */
async function profileSubmits(secret: string, warmSecret: string) {
  const n = Number(values['profile-submits']);
  const dir = mkdtempSync(join(tmpdir(), 'imagegen-prof-'));
  try {
    const profPort = await freePort();
    const profiled = start(
      'api',
      ['--cpu-prof', '--cpu-prof-interval', String(PROFILE_INTERVAL_US), '--cpu-prof-dir', dir],
      {
        PORT: String(profPort),
      },
    );
    const via = httpClient(`http://127.0.0.1:${profPort}`, CONNS);
    await untilReady(via);
    const post = (i: number, key = secret) =>
      via
        .call(
          'POST',
          '/v1/images/generations',
          { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          JSON.stringify({ prompt: `profile ${i}`, aspect_ratio: '1:1' }),
          202,
        )
        .then((r) => {
          if (r.status !== 202) throw new Error(`profile submit ${r.status}`);
        });
    await load(WARM_UP, CONNS, (i) => post(i, warmSecret));
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
    await session.post('Profiler.start');
    const from = Number(process.hrtime.bigint() / 1000n);
    const run = await withCpu({ api: profiled.pid!, redis: redisPid }, () => load(n, CONNS, post));
    const to = Number(process.hrtime.bigint() / 1000n);
    const { profile: clientProfile } = await session.post('Profiler.stop');
    session.disconnect();
    via.close();
    await stop(profiled);
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('the profiled API wrote no profile');
    const apiProfile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    const apiTime = attribute(apiProfile, from, to, PROFILE_INTERVAL_US);
    const clientTime = attribute(clientProfile, from, to, PROFILE_INTERVAL_US);
    // Shares of the samples are scaled to the CPU each process really used (/proc).
    const apiCpu = run.cpu['api']! / n;
    const clientCpu = run.cpu['client']! / n;
    console.log(
      `\n3. CPU profile of one submit (a second API process under --cpu-prof, ${n} submits, ${CONNS} in flight, ` +
        `${f(n / (run.result.wallMs / 1000), 0)} submits/s while profiled)\n` +
        `CPU per submit (from /proc, profilers running): API ${f(apiCpu, 3)} ms, redis-server ` +
        `${f(run.cpu['redis']! / n, 3)} ms, the bench client ${f(clientCpu, 3)} ms`,
    );
    const top = (m: Map<string, number>, k: number, perSubmit: number) => {
      const all = sum(m);
      return [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, k)
        .map(([name, ms]) => `  ${f((perSubmit * ms) / all, 3)} ms  ${f((100 * ms) / all, 1)} %  ${name}`)
        .join('\n');
    };
    console.log(
      `API by module (share of its samples × its CPU per submit; native and Node frames charged to the package that called them):`,
    );
    console.log(top(apiTime.byModule, 14, apiCpu));
    console.log(`API by function (self time; a native or Node frame names the package that called it):`);
    console.log(top(apiTime.byFunction, 20, apiCpu));
    console.log(`the bench client by module:`);
    console.log(top(clientTime.byModule, 5, clientCpu));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Profile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  startTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function sum(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}

/**
 * Self time (ms) of the samples taken between `from` and `to` (µs, monotonic clock), by module and by
 * function. A frame of V8's or Node's own (no package) is charged to the nearest caller that belongs to a
 * package, ours or a dependency; one with no such caller (the HTTP parser's callbacks, timers, GC) stays
 * Node's or V8's.
 */
function attribute(profile: Profile, from: number, to: number, intervalUs: number) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const self = new Map<number, number>();
  let t = profile.startTime;
  const deltas = profile.timeDeltas ?? [];
  // A sample's delta is wall time since the previous one; when the process lost the core in between (to
  // redis-server woken by its write, or to anything else on a busy machine) the delta is long. Counting at
  // most `intervalUs` per sample keeps such waits from being charged to whatever frame was running.
  (profile.samples ?? []).forEach((id, i) => {
    t += deltas[i] ?? 0;
    const ms = Math.min(deltas[i] ?? 0, intervalUs) / 1000;
    if (t >= from && t <= to) self.set(id, (self.get(id) ?? 0) + ms);
  });
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    const { url, functionName, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    const own = moduleOf(url, functionName);
    let owner = own;
    if (!isPackage(own)) {
      for (let up = parent.get(id); up !== undefined; up = parent.get(up)) {
        const frame = byId.get(up)!.callFrame;
        const m = moduleOf(frame.url, frame.functionName);
        if (isPackage(m)) {
          owner = m;
          break;
        }
      }
    }
    byModule.set(owner, (byModule.get(owner) ?? 0) + ms);
    const where = url ? `${own}:${lineNumber + 1}` : own;
    const fn = `${functionName || '(anonymous)'} ${where}${owner === own ? '' : ` ← ${owner}`}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  }
  return { byModule, byFunction };
}

function isPackage(module: string): boolean {
  return !module.startsWith('V8') && module !== 'node internals';
}

/** A profile node's module: a package under node_modules, one of ours, Node's own, or V8's. */
function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? `V8 ${functionName}` : 'V8 built-ins';
  if (url.startsWith('node:')) return 'node internals';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (dep) return dep;
  const ours = /\/(apps|packages|test)\/([^/]+)\//.exec(url);
  if (ours) return ours[1] === 'test' ? 'the bench client' : `${ours[1]}/${ours[2]}`;
  return url.split('/').slice(-2).join('/');
}
