import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisJobRepository, connectRedis } from '@imagegen/jobs';

import { slowModel } from '../support/slow-model.js';
import { client, startStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let api: ReturnType<typeof client>;
const slow = slowModel(900);
beforeAll(async () => {
  // No worker at first: jobs stay queued until a test adds one.
  stack = await startStack({
    workers: 0,
    env: { MODEL_DIR: slow.dir, RATE_LIMIT_PER_MINUTE: '30', CONCURRENCY_LIMIT: '3' },
  });
  api = client(stack);
});
afterAll(async () => {
  await stack.stop();
  slow.cleanup();
});

const newKey = async () => (await stack.api.apiKeys.create('t')).secret;

describe('limits', () => {
  it('429 concurrency_limit_exceeded past the unfinished-jobs limit, with Retry-After', async () => {
    const key = await newKey();
    for (let i = 0; i < 3; i++)
      expect((await api('/v1/images/generations', { body: { prompt: 'a' }, key })).status).toBe(202);
    const r = await api('/v1/images/generations', { body: { prompt: 'a' }, key });
    expect(r.status).toBe(429);
    expect(r.json).toMatchObject({ error: { code: 'concurrency_limit_exceeded' } });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key is not affected.
    expect((await api('/v1/images/generations', { body: { prompt: 'a' }, key: await newKey() })).status).toBe(
      202,
    );
  });

  it('429 rate_limited past the per-minute budget, with RateLimit headers', async () => {
    const key = await newKey();
    let last = await api('/v1/images/generations/gen_000000000000000000000000/cancel', {
      method: 'POST',
      key,
    });
    expect(last.headers.get('ratelimit-limit')).toBe('30');
    for (let i = 0; i < 30 && last.status !== 429; i++) {
      last = await api('/v1/images/generations/gen_000000000000000000000000/cancel', { method: 'POST', key });
    }
    expect(last.status).toBe(429);
    expect(last.json).toMatchObject({ error: { code: 'rate_limited' } });
    expect(last.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});

describe('cancel', () => {
  it('cancels a queued job at once, idempotently; the queue forgets it', async () => {
    const key = await newKey();
    const r = await api('/v1/images/generations', { body: { prompt: 'a', aspect_ratio: '1:1' }, key });
    const id = String(r.json['id']);
    expect(r.json['queue_position']).toBeGreaterThanOrEqual(1);
    const c1 = await api(`/v1/images/generations/${id}/cancel`, { method: 'POST', key });
    expect(c1.status).toBe(200);
    expect(c1.json).toMatchObject({ status: 'canceled', success: false, queue_position: null });
    const c2 = await api(`/v1/images/generations/${id}/cancel`, { method: 'POST', key });
    expect(c2.status).toBe(200);
    // The freed slot is usable again (the canceled job no longer counts).
    const redis = connectRedis(stack.redis.url, 'worker');
    const store = new RedisJobRepository(redis, { prefix: stack.env['REDIS_PREFIX']! });
    expect(await store.queuePosition(id)).toBeNull();
    redis.disconnect();
  });

  it('stops a running job at the next step; a finished job cannot be canceled', async () => {
    const key = await newKey();
    const worker = await stack.addWorker();
    try {
      const r = await api('/v1/images/generations', { body: { prompt: 'a', aspect_ratio: '1:1' }, key });
      const id = String(r.json['id']);
      // Wait for the first progress event, then cancel.
      const res = await fetch(`${stack.base}/v1/images/generations/${id}/events`, {
        headers: { authorization: `Bearer ${key}` },
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let seen = '';
      while (!seen.includes('event: progress')) seen += new TextDecoder().decode((await reader.read()).value);
      const c = await api(`/v1/images/generations/${id}/cancel`, { method: 'POST', key });
      expect(c.status).toBe(200);
      expect(c.json).toMatchObject({ status: 'canceled', output: null });
      let rest = '';
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
        rest += new TextDecoder().decode(chunk.value);
      expect(rest).toMatch(/event: completed\ndata: \{[^\n]*"status":"canceled"/);
      const job = await api(`/v1/images/generations/${id}`, { key });
      expect((job.json['progress'] as number) < 0.85).toBe(true);
      // A job that succeeded is not cancelable.
      const done = await api('/v1/images/generations', {
        body: { prompt: 'b', aspect_ratio: '1:1' },
        key,
        headers: { prefer: 'wait=60' },
      });
      expect(done.json['status']).toBe('succeeded');
      const late = await api(`/v1/images/generations/${String(done.json['id'])}/cancel`, {
        method: 'POST',
        key,
      });
      expect(late.status).toBe(409);
      expect(late.json).toMatchObject({ error: { code: 'conflict' } });
    } finally {
      await worker.close();
      stack.workers.splice(stack.workers.indexOf(worker), 1);
    }
  });
});

describe('global queue bound', () => {
  it('503 queue_full with Retry-After once QUEUE_MAX_WAITING jobs wait; positions count from 1', async () => {
    const bounded = await startStack({ workers: 0, env: { QUEUE_MAX_WAITING: '2' } });
    try {
      const call = client(bounded);
      const first = await call('/v1/images/generations', { body: { prompt: 'a' } });
      const second = await call('/v1/images/generations', { body: { prompt: 'b' } });
      expect([first.json['queue_position'], second.json['queue_position']]).toEqual([1, 2]);
      const third = await call('/v1/images/generations', { body: { prompt: 'c' } });
      expect(third.status).toBe(503);
      expect(third.json).toMatchObject({ error: { code: 'queue_full' } });
      expect(third.headers.get('retry-after')).toBe('30');
      // Canceling the first frees a place and moves the second up.
      await call(`/v1/images/generations/${String(first.json['id'])}/cancel`, { method: 'POST' });
      expect((await call(`/v1/images/generations/${String(second.json['id'])}`)).json['queue_position']).toBe(
        1,
      );
      expect((await call('/v1/images/generations', { body: { prompt: 'c' } })).status).toBe(202);
    } finally {
      await bounded.stop();
    }
  });
});
