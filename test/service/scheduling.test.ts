import { randomBytes } from 'node:crypto';

import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadApiConfig, startApi, type RunningApi } from '@imagegen/api';
import type { NewJobRecord } from '@imagegen/contracts';
import {
  BullGenerationQueue,
  connectRedis,
  createConsumer,
  Keys,
  RedisJobRepository,
  type Consumer,
  type Redis,
} from '@imagegen/jobs';

import { startRedisCounter } from '../support/redis-counter.js';
import { client, startStack, type TestStack } from '../support/stack.js';

/**
 * The job layer's throughput and fairness against the real parts: the lean submit's Redis round trips
 * (counted by a proxy in front of redis-server), the fair order with real BullMQ consumers, and the
 * concurrency policies set through the admin API.
 */
const ADMIN = `adm_${randomBytes(32).toString('base64url')}`;
let stack: TestStack;
let api: ReturnType<typeof client>;
let redis: Redis;
beforeAll(async () => {
  stack = await startStack({ workers: 0, env: { ADMIN_API_KEY: ADMIN, CONCURRENCY_LIMIT: '1000' } });
  api = client(stack);
  redis = connectRedis(stack.redis.url, 'worker');
});
afterAll(async () => {
  redis.disconnect();
  await stack.stop();
});

const body = (i: number) => ({ prompt: `a red circle ${i}`, aspect_ratio: '1:1' });
const admin = (path: string, init: { method: string; body?: unknown }) =>
  api(`/admin/v1${path}`, { ...init, key: ADMIN });

describe('the lean submit', () => {
  it('costs two Redis round trips: one command for everything, one enqueue', async () => {
    const counter = await startRedisCounter({ port: stack.redis.port });
    let lean: RunningApi | undefined;
    try {
      // No replicas: the durability WAIT (and its ROLE probe) is a round trip only where replicas are.
      lean = await startApi(
        loadApiConfig({ ...stack.env, REDIS_URL: counter.url, REDIS_MIN_REPLICAS_ACK: '0' }),
      );
      const at = `http://127.0.0.1:${lean.port}`;
      const post = (b: unknown, key = stack.key) =>
        fetch(`${at}/v1/images/generations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(b),
        });
      // Warm up: scripts loaded, the model registry read (it is cached for 10 s).
      for (let i = 0; i < 3; i++) expect((await post(body(i))).status).toBe(202);
      counter.reset();
      const n = 20;
      for (let i = 0; i < n; i++) {
        const r = await post(body(i));
        expect(r.status).toBe(202);
        expect(r.headers.get('ratelimit-remaining')).toMatch(/^\d+$/);
      }
      const byName = counter.commands.reduce<Record<string, number>>(
        (m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }),
        {},
      );
      // Each submit: EVALSHA (auth, limits, idempotency, record, events, intent) + EVALSHA (BullMQ's add);
      // the intents ride on the next submit's command. Slack: one idle flush of intents, one registry read.
      expect(counter.commands.length, JSON.stringify(byName)).toBeLessThanOrEqual(2 * n + 2);
      expect(byName['EVALSHA'], JSON.stringify(byName)).toBe(2 * n);
    } finally {
      await lean?.close();
      await counter.close();
    }
  });

  it('answers as the classic order does: 401 before a bad body, 400 for a known key, 401 for a revoked one', async () => {
    const wrong = `ig_${stack.keyId}_${randomBytes(32).toString('base64url')}`;
    const unknownKey = await api('/v1/images/generations', { body: body(1), key: wrong });
    expect(unknownKey.status).toBe(401);
    expect(unknownKey.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await api('/v1/images/generations', { body: { prompt: 5 }, key: wrong })).status).toBe(401);
    const bad = await api('/v1/images/generations', { body: { prompt: 5 } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('ratelimit-limit')).toMatch(/^\d+$/);
    const made = await admin('/keys', { method: 'POST', body: { name: 'soon revoked' } });
    const secret = String(made.json['secret']);
    expect((await api('/v1/images/generations', { body: body(2), key: secret })).status).toBe(202);
    await admin(`/keys/${String(made.json['id'])}`, { method: 'DELETE' });
    expect((await api('/v1/images/generations', { body: body(3), key: secret })).status).toBe(401);
  });
});

describe('fair order with real BullMQ consumers', () => {
  it('starts a new key’s job before the (W + 1)-th next job of a key with 200 queued; positions match BullMQ', async () => {
    const prefix = `fair${randomBytes(3).toString('hex')}`;
    const jobs = new RedisJobRepository(redis, { prefix });
    const queue = new BullGenerationQueue(redis, prefix);
    const bull = new Queue('generations', { connection: redis, prefix: new Keys(prefix).bullPrefix() });
    const W = 2;
    const newJob = (keyId: string, i: number): NewJobRecord => ({
      id: `gen_${keyId}${String(i).padStart(24 - keyId.length, '0')}`,
      keyId,
      input: {
        prompt: 'x',
        aspect_ratio: '1:1',
        output_format: 'png',
        seed: i,
        prompt_upsampling: false,
        safety_tolerance: 2,
      },
      metadata: {},
      objectKey: `images/${i}.png`,
      requestId: 'r',
      createdAt: Date.now(),
      deadlineAt: Date.now() + 600_000,
      webhook: null,
      analysis: null,
      warnings: [],
    });
    const submit = async (j: NewJobRecord) => {
      const r = await jobs.submit(j, { concurrency: 1000, queueBound: 0 }, null);
      if (r.kind !== 'created') throw new Error(`not created: ${r.kind}`);
      await queue.enqueue({ id: j.id, keyId: j.keyId, objectKey: j.objectKey }, r.priority);
    };
    for (let i = 0; i < 200; i++) await submit(newJob('keyA', i));
    const started: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let bStarted!: () => void;
    const bDone = new Promise<void>((r) => (bStarted = r));
    const consumers: Consumer[] = [];
    try {
      for (let w = 0; w < W; w++) {
        consumers.push(
          createConsumer(
            'generate',
            async (job) => {
              await jobs.start(job.id, 1, `w${w}`);
              started.push(job.id);
              if (job.data.keyId === 'keyB') bStarted();
              await released;
              await jobs.finish(job.id, job.data.keyId, 'succeeded', {});
            },
            { connection: connectRedis(stack.redis.url, 'worker'), prefix, concurrency: 1 },
          ),
        );
      }
      // Wait until the W workers hold A's first W jobs.
      for (let i = 0; started.length < W; i++) {
        if (i > 600) throw new Error(`workers took ${started.length} of ${W} jobs in 30 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const b = newJob('keyB', 0);
      await submit(b);
      // Positions (ours, O(log n) ZRANK) list the waiting jobs in BullMQ's own order.
      const prioritized = (await bull.getJobs(['prioritized'], 0, -1, true)).map((j) => j.id!);
      const positions = await Promise.all(prioritized.map((id) => jobs.queuePosition(id)));
      expect(positions).toEqual(prioritized.map((_, i) => i));
      expect(prioritized.indexOf(b.id)).toBeLessThanOrEqual(1);
      release();
      await bDone;
      const afterB = started.slice(W);
      const aBeforeB = afterB.indexOf(b.id);
      expect(aBeforeB, `start order after B's submit: ${afterB.slice(0, 5).join(', ')}`).toBeLessThan(W + 1);
    } finally {
      release();
      await Promise.all(consumers.map((c) => c.close(true)));
      await bull.obliterate({ force: true });
      await bull.close();
      await queue.close();
    }
  });
});

describe('concurrency policies through the admin API', () => {
  it('holds a key’s job beyond its limit under queue and enqueues it when a slot frees; 429 under reject', async () => {
    const limited = await startApi(loadApiConfig({ ...stack.env, CONCURRENCY_LIMIT: '1' }));
    try {
      const at = (path: string, init: { method?: string; body?: unknown; key?: string } = {}) =>
        client({ base: `http://127.0.0.1:${limited.port}`, key: stack.key })(path, init);
      const made = await admin('/keys', { method: 'POST', body: { name: 'bursty' } });
      const id = String(made.json['id']);
      const key = String(made.json['secret']);
      expect(made.json).toMatchObject({ id });
      for (const bad of [{ weight: 0 }, { weight: 101 }, { concurrency_policy: 'later' }, {}]) {
        const r = await admin(`/keys/${id}`, { method: 'PATCH', body: bad });
        expect(r.status, JSON.stringify(bad)).toBe(400);
        expect((r.json['error'] as { code: string }).code).toBe('invalid_request');
      }
      expect((await admin('/keys/0123456789ab', { method: 'PATCH', body: { weight: 2 } })).status).toBe(404);
      const set = await admin(`/keys/${id}`, {
        method: 'PATCH',
        body: { concurrency_policy: 'queue', weight: 2 },
      });
      expect(set.json).toMatchObject({ id, weight: 2, concurrency_policy: 'queue' });
      const listed = (await admin('/keys', { method: 'GET' })).json['data'] as { id: string }[];
      expect(listed.find((k) => k.id === id)).toMatchObject({ weight: 2, concurrency_policy: 'queue' });

      const first = await at('/v1/images/generations', { body: body(1), key });
      const second = await at('/v1/images/generations', { body: body(2), key });
      expect([first.status, second.status]).toEqual([202, 202]);
      expect(second.json).toMatchObject({ status: 'queued', queue_position: null });
      const bull = new BullGenerationQueue(redis, stack.env['REDIS_PREFIX']!);
      try {
        expect(await bull.state(String(second.json['id']))).toBe('unknown');
        // The first ends (canceled): its slot goes to the held job, which is enqueued at once.
        const canceled = await at(`/v1/images/generations/${String(first.json['id'])}/cancel`, {
          method: 'POST',
          key,
        });
        expect(canceled.status).toBe(200);
        expect(await bull.state(String(second.json['id']))).toBe('prioritized');
        const now = await at(`/v1/images/generations/${String(second.json['id'])}`, { key });
        expect(now.json['queue_position']).toEqual(expect.any(Number));
      } finally {
        await bull.close();
      }
      await admin(`/keys/${id}`, { method: 'PATCH', body: { concurrency_policy: 'reject' } });
      const refused = await at('/v1/images/generations', { body: body(3), key });
      expect(refused.status).toBe(429);
      expect((refused.json['error'] as { code: string }).code).toBe('concurrency_limit_exceeded');
    } finally {
      await limited.close();
    }
  });
});
