import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDispatcher, loadDispatcherConfig, type RunningDispatcher } from '@imagegen/dispatcher';
import {
  BullGenerationQueue,
  connectRedis,
  Keys,
  RedisJobEvents,
  RedisJobRepository,
  type Redis,
} from '@imagegen/jobs';
import { loadWorkerConfig, startWorker, type RunningWorker } from '@imagegen/worker';

import { loopingModel } from '../engine/looping-unet.js';
import { CRASH_MARKER, CRASHING_ENGINE_THREAD } from '../support/crashing-engine-thread.js';
import { until } from '../support/processes.js';
import { startS3Proxy } from '../support/s3-proxy.js';
import { client, startStack, type TestStack } from '../support/stack.js';

/**
 * Failure injection against the real stack (redis-server, S3, the API): a submit that dies between its
 * two steps, an engine that hangs, an S3 endpoint that never answers, and a job that kills its engine
 * every time. Each job must end within its bound, and the workers must go on serving others.
 */
let stack: TestStack;
let api: ReturnType<typeof client>;
let redis: Redis;
let jobs: RedisJobRepository;
let events: RedisJobEvents;
let keys: Keys;

beforeAll(async () => {
  stack = await startStack({ workers: 0 });
  api = client(stack);
  redis = connectRedis(stack.redis.url, 'worker');
  keys = new Keys(stack.env['REDIS_PREFIX']!);
  jobs = new RedisJobRepository(redis, { prefix: stack.env['REDIS_PREFIX']! });
  events = new RedisJobEvents(redis, stack.env['REDIS_PREFIX']!);
});
afterAll(async () => {
  redis.disconnect();
  await stack.stop();
});

const worker = (env: Record<string, string> = {}, overrides = {}) =>
  startWorker(loadWorkerConfig({ ...stack.env, ...env }), overrides);

const completedEvents = async (id: string) => (await events.read(id)).filter((e) => e.type === 'completed');

describe('a submit that dies between writing the job and queueing it', () => {
  it('leaves a job that still runs, exactly once, and holds no slot afterwards', async () => {
    // The first step of a submit, exactly as the API runs it; the process "dies" before the second.
    const id = `gen_${randomBytes(12).toString('hex').slice(0, 24)}`;
    const created = await jobs.submit(
      {
        id,
        keyId: stack.keyId,
        input: {
          prompt: 'a red circle',
          aspect_ratio: '1:1',
          output_format: 'png',
          seed: 3,
          prompt_upsampling: false,
          safety_tolerance: 2,
        },
        metadata: {},
        objectKey: `images/${randomBytes(16).toString('hex')}.png`,
        requestId: 'req_dead',
        createdAt: Date.now(),
        deadlineAt: Date.now() + 600_000,
        webhook: null,
        analysis: null,
        warnings: [],
      },
      { concurrency: 24, queueBound: 0 },
      null,
    );
    expect(created.kind).toBe('created');
    expect(await redis.scard(keys.unfinished(stack.keyId))).toBe(1);
    expect(await redis.zrange(keys.enqueueIntents(), 0, -1)).toEqual([id]);
    const w = await worker();
    let dispatcher: RunningDispatcher | undefined;
    try {
      // Nothing queued it: a worker alone never sees it.
      expect(await new BullGenerationQueue(redis, stack.env['REDIS_PREFIX']!).counts()).toMatchObject({
        waiting: 0,
        active: 0,
      });
      dispatcher = await startDispatcher(
        loadDispatcherConfig({ ...stack.env, ENQUEUE_GRACE_MS: '100', EXPIRE_INTERVAL_MS: '100' }),
      );
      const done = await api(`/v1/images/generations/${id}?wait=30`);
      expect(done.json).toMatchObject({ status: 'succeeded', attempt: 1 });
      expect(await completedEvents(id)).toHaveLength(1);
      expect(await redis.scard(keys.unfinished(stack.keyId))).toBe(0);
      expect(await redis.zcard(keys.enqueueIntents())).toBe(0);
      expect((await dispatcher.metrics.jobsEnqueuedLate.get()).values[0]?.value).toBe(1);
    } finally {
      await dispatcher?.close();
      await w.close();
    }
  });
});

describe('an engine that hangs inside one native run', () => {
  it('ends the job as timed out within its bound, and the worker loads a new engine', async () => {
    const model = loopingModel(3_000_000);
    let w: RunningWorker | undefined;
    try {
      w = await worker({ MODEL_DIR: model.dir, JOB_TIMEOUT_MS: '300', ENGINE_ABORT_GRACE_MS: '200' });
      const started = Date.now();
      const r = await api('/v1/images/generations', {
        body: { prompt: 'a', aspect_ratio: '1:1' },
        headers: { prefer: 'wait=60' },
      });
      expect(r.json).toMatchObject({ status: 'failed', error: { code: 'timeout', retryable: true } });
      // Job timeout + abort grace, not the loop's length, bounds the job (generous slack for a loaded CI).
      expect(Date.now() - started).toBeLessThan(300 + 200 + 20_000);
      await until('a replacement engine', () => w!.engine.replacements >= 1 && w!.engine.ready, 60_000);
    } finally {
      await w?.close();
      model.cleanup();
    }
  });
});

describe('an S3 endpoint that accepts connections and never answers', () => {
  it('fails the upload attempt within its timeout; the job is retried and succeeds once S3 answers', async () => {
    const url = new URL(stack.env['S3_ENDPOINT']!);
    const proxy = await startS3Proxy({ host: url.hostname, port: Number(url.port) });
    const w = await worker({ S3_ENDPOINT: proxy.endpoint, S3_REQUEST_TIMEOUT_MS: '500' });
    try {
      proxy.hang(true);
      const r = await api('/v1/images/generations', { body: { prompt: 'a', aspect_ratio: '1:1' } });
      const id = String(r.json['id']);
      const queue = new BullGenerationQueue(redis, stack.env['REDIS_PREFIX']!);
      await until(
        'the upload attempt to fail and be scheduled again',
        async () => ((await queue.counts())['delayed'] ?? 0) > 0,
        30_000,
      );
      expect((await jobs.get(id))!.status).toBe('processing');
      proxy.hang(false);
      const done = await api(`/v1/images/generations/${id}?wait=30`);
      expect(done.json).toMatchObject({ status: 'succeeded' });
      expect(done.json['attempt'] as number).toBeGreaterThanOrEqual(2);
      expect(await completedEvents(id)).toHaveLength(1);
      await queue.close();
    } finally {
      await w.close();
      await proxy.close();
    }
  });
});

describe('a poison job that kills its engine every time', () => {
  it('is tried a bounded number of times, ends failed with worker_crashed, and other jobs are served', async () => {
    const w = await worker(
      { WORKER_MAX_CRASHES: '1' },
      { engineOptions: { threadEntry: CRASHING_ENGINE_THREAD } },
    );
    try {
      const poison = await api('/v1/images/generations', {
        body: { prompt: `a red circle ${CRASH_MARKER}`, aspect_ratio: '1:1' },
      });
      expect(poison.status).toBe(202);
      const ok = await api('/v1/images/generations', {
        body: { prompt: 'a blue square', aspect_ratio: '1:1' },
        headers: { prefer: 'wait=60' },
      });
      expect(ok.json).toMatchObject({ status: 'succeeded' });
      const failed = await api(`/v1/images/generations/${String(poison.json['id'])}?wait=60`);
      expect(failed.json).toMatchObject({
        status: 'failed',
        error: { code: 'worker_crashed', retryable: false },
      });
      expect(await completedEvents(String(poison.json['id']))).toHaveLength(1);
      // Two crashes (the first retried, the second over the bound of one), each engine replaced.
      expect(w.engine.replacements).toBe(2);
      const again = await api('/v1/images/generations', {
        body: { prompt: 'a green star', aspect_ratio: '1:1' },
        headers: { prefer: 'wait=60' },
      });
      expect(again.json).toMatchObject({ status: 'succeeded' });
    } finally {
      await w.close();
    }
  });
});
