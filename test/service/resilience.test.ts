import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadDispatcherConfig, startDispatcher } from '@imagegen/dispatcher';
import { connectRedis, Keys, RedisJobEvents, RedisJobRepository, type Redis } from '@imagegen/jobs';
import { storageFromEnv } from '@imagegen/storage';

import { slowModel } from '../support/slow-model.js';
import { until } from '../support/processes.js';
import { client, startStack, type TestStack } from '../support/stack.js';

const WORKER_MAIN = fileURLToPath(new URL('../../apps/worker/dist/main.js', import.meta.url));
// Short locks so a killed worker's job is recovered within seconds (production default: 30 s).
const FAST_RECOVERY = { WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' };

let stack: TestStack;
let api: ReturnType<typeof client>;
let redis: Redis;
let store: RedisJobRepository;
let events: RedisJobEvents;
const slow = slowModel(600);
beforeAll(async () => {
  stack = await startStack({ workers: 0, env: { IMAGE_TTL_MS: '4000', ...FAST_RECOVERY } });
  api = client(stack);
  redis = connectRedis(stack.redis.url, 'worker');
  store = new RedisJobRepository(redis, { prefix: stack.env['REDIS_PREFIX']! });
  events = new RedisJobEvents(redis, stack.env['REDIS_PREFIX']!);
});
afterAll(async () => {
  redis.disconnect();
  await stack.stop();
  slow.cleanup();
});

/** The compiled worker as its own process (what `npm run worker` runs). */
function spawnWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [WORKER_MAIN], {
    env: { ...process.env, ...stack.env, ...env },
    stdio: 'ignore',
  });
}

describe('worker crash', () => {
  it('a worker SIGKILLed mid-job loses nothing: another worker completes the job exactly once', async () => {
    const victim = spawnWorker({ MODEL_DIR: slow.dir });
    const exited = new Promise((r) => victim.once('exit', r));
    try {
      const r = await api('/v1/images/generations', {
        body: { prompt: 'a red circle', aspect_ratio: '1:1', output_format: 'png' },
      });
      const id = String(r.json['id']);
      await until('the child worker to be generating', async () => {
        const rec = await store.get(id);
        return rec?.worker?.endsWith(`:${victim.pid!}`) && rec.stage === 'generating' && rec.progress > 0;
      });
      victim.kill('SIGKILL');
      await exited;
      const rescuer = await stack.addWorker({ MODEL_DIR: slow.dir });
      const job = await api(`/v1/images/generations/${id}?wait=60`);
      expect(job.json).toMatchObject({ status: 'succeeded', attempt: 2 });
      const rec = await store.get(id);
      expect(rec!.worker!.endsWith(`:${process.pid}`)).toBe(true);
      const types = (await events.read(id)).map((e) => e.type);
      expect(types.filter((e) => e === 'started')).toHaveLength(2);
      expect(types.filter((e) => e === 'completed')).toHaveLength(1);
      const image = await fetch((job.json['output'] as { url: string }).url);
      expect(image.status).toBe(200);
      await rescuer.close();
      stack.workers.splice(stack.workers.indexOf(rescuer), 1);
    } finally {
      if (victim.exitCode === null) victim.kill('SIGKILL');
    }
  });
});

describe('horizontal scaling', () => {
  it('two worker processes share one queue', async () => {
    const a = spawnWorker({ WORKER_CONCURRENCY: '1' });
    const b = spawnWorker({ WORKER_CONCURRENCY: '1' });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        ids.push(
          String(
            (await api('/v1/images/generations', { body: { prompt: `job ${i}`, aspect_ratio: '1:1' } })).json[
              'id'
            ],
          ),
        );
      }
      const workers = new Set<string>();
      for (const id of ids) {
        expect((await api(`/v1/images/generations/${id}?wait=60`)).json['status']).toBe('succeeded');
        workers.add((await store.get(id))!.worker!);
      }
      expect([...workers].map((w) => w.split(':')[1]).sort()).toEqual([String(a.pid), String(b.pid)].sort());
    } finally {
      a.kill('SIGTERM');
      b.kill('SIGTERM');
    }
  });
});

describe('image lifetime', () => {
  it('after the lifetime the job still reads, with url null and expired true, and the old URL is refused', async () => {
    const w = await stack.addWorker();
    const r = await api('/v1/images/generations', {
      body: { prompt: 'a cat', aspect_ratio: '1:1' },
      headers: { prefer: 'wait=30' },
    });
    expect(r.json['status']).toBe('succeeded');
    const output = r.json['output'] as { url: string; url_expires_at: string; expired: boolean };
    expect(output.expired).toBe(false);
    expect(Date.parse(output.url_expires_at) - Date.parse(String(r.json['completed_at']))).toBe(4000);
    expect((await fetch(output.url)).status).toBe(200);
    await new Promise((res) => setTimeout(res, Date.parse(output.url_expires_at) - Date.now() + 1100));
    const later = await api(`/v1/images/generations/${String(r.json['id'])}`);
    expect(later.status).toBe(200);
    expect(later.json).toMatchObject({
      status: 'succeeded',
      image_url: null,
      output: { url: null, expired: true },
    });
    expect((await fetch(output.url)).status).toBe(403);
    // The dispatcher's sweeper deletes the expired object itself (lifecycle rules only act after days).
    const dispatcher = await startDispatcher(loadDispatcherConfig({ ...stack.env, IMAGE_TTL_MS: '4000' }));
    try {
      expect(await dispatcher.sweepOnce()).toBeGreaterThanOrEqual(1);
      const storage = storageFromEnv({ ...loadDispatcherConfig({ ...stack.env, IMAGE_TTL_MS: '4000' }) });
      expect(await storage.sweep()).toBe(0);
    } finally {
      await dispatcher.close();
    }
    await w.close();
    stack.workers.splice(stack.workers.indexOf(w), 1);
  });
});

describe('worker shutdown and timeouts', () => {
  it('SIGTERM lets the running job finish, then the process exits 0', async () => {
    const w = spawnWorker({ MODEL_DIR: slow.dir });
    const exited = new Promise<number | null>((r) => w.once('exit', (code) => r(code)));
    const r = await api('/v1/images/generations', { body: { prompt: 'a', aspect_ratio: '1:1' } });
    const id = String(r.json['id']);
    await until('the job to run', async () => (await store.get(id))?.progress ?? 0);
    w.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((await store.get(id))!.status).toBe('succeeded');
  });

  it('a job running past JOB_TIMEOUT_MS fails with code timeout', async () => {
    const w = await stack.addWorker({ MODEL_DIR: slow.dir, JOB_TIMEOUT_MS: '150' });
    try {
      const r = await api('/v1/images/generations', {
        body: { prompt: 'a', aspect_ratio: '1:1' },
        headers: { prefer: 'wait=30' },
      });
      expect(r.json).toMatchObject({
        status: 'failed',
        success: false,
        error: { code: 'timeout', retryable: true },
      });
    } finally {
      await w.close();
      stack.workers.splice(stack.workers.indexOf(w), 1);
    }
  });
});

describe('storage outage', () => {
  it('a failed upload is retried with backoff and succeeds once S3 is back, exactly once', async () => {
    const w = await stack.addWorker();
    try {
      await stack.s3.pause();
      const r = await api('/v1/images/generations', { body: { prompt: 'a', aspect_ratio: '1:1' } });
      const id = String(r.json['id']);
      // The first attempt fails on upload; BullMQ schedules a retry.
      const { Queue } = await import('bullmq');
      const queue = new Queue('generations', {
        connection: redis,
        prefix: new Keys(stack.env['REDIS_PREFIX']!).bullPrefix(),
      });
      await until(
        'a failed upload attempt',
        async () => (await queue.getJobCounts('delayed'))['delayed']! > 0,
      );
      expect((await store.get(id))!.status).toBe('processing');
      await stack.s3.resume();
      const job = await api(`/v1/images/generations/${id}?wait=30`);
      expect(job.json).toMatchObject({ status: 'succeeded' });
      expect(job.json['attempt'] as number).toBeGreaterThanOrEqual(2);
      expect((await fetch((job.json['output'] as { url: string }).url)).status).toBe(200);
      expect((await events.read(id)).filter((e) => e.type === 'completed')).toHaveLength(1);
      // No orphan: the failed attempts wrote nothing, the retry wrote the one object the job names.
      const rec = (await store.get(id))!;
      const objects = (await storageFromEnv(loadDispatcherConfig(stack.env)).list()).map((o) => o.key);
      expect(objects.filter((k) => k === rec.image!.key)).toHaveLength(1);
      const referenced = new Set<string>();
      for (const key of await redis.keys(new Keys(stack.env['REDIS_PREFIX']!).job('gen_*'))) {
        const image = key.endsWith(':events') ? null : await redis.hget(key, 'image');
        if (image) referenced.add((JSON.parse(image) as { key: string }).key);
      }
      expect(objects.filter((k) => !referenced.has(k))).toEqual([]);
    } finally {
      await w.close();
      stack.workers.splice(stack.workers.indexOf(w), 1);
    }
  });
});
