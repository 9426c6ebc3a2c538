import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadDispatcherConfig, startDispatcher, type RunningDispatcher } from '@imagegen/dispatcher';
import { connectRedis, RedisJobEvents, RedisJobRepository, type Redis } from '@imagegen/jobs';
import { verifyWebhook } from '@imagegen/webhooks';

import { until } from '../support/processes.js';
import { startReceiver } from '../support/receiver.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { slowModel } from '../support/slow-model.js';
import { client, stackStorage, startStack, type TestStack } from '../support/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'imagegen-aof-'));
const slow = slowModel(150);
let redisServer: RedisServer;
let stack: TestStack;
let api: ReturnType<typeof client>;
let observer: Redis;
let store: RedisJobRepository;
let events: RedisJobEvents;
let dispatcher: RunningDispatcher;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  redisServer = await startRedis({ appendonly: true, dir });
  stack = await startStack({
    workers: 0,
    redis: redisServer,
    env: {
      MODEL_DIR: slow.dir,
      WORKER_LOCK_MS: '3000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1',
      WEBHOOK_RETRY_SCHEDULE: '200ms,400ms,800ms,1s,2s',
    },
  });
  receiver = await startReceiver();
  dispatcher = await startDispatcher(loadDispatcherConfig(stack.env));
  await stack.addWorker();
  await stack.addWorker();
  api = client(stack);
  observer = connectRedis(redisServer.url, 'worker');
  observer.on('error', () => undefined);
  store = new RedisJobRepository(observer, { prefix: stack.env['REDIS_PREFIX']! });
  events = new RedisJobEvents(observer, stack.env['REDIS_PREFIX']!);
});
afterAll(async () => {
  await dispatcher.close();
  await receiver.close();
  observer.disconnect();
  await stack.stop();
  await stack.redis.stop();
  rmSync(dir, { recursive: true, force: true });
  slow.cleanup();
});

describe('Redis restart (AOF) with jobs waiting and running', () => {
  it('loses none: every job reaches one terminal state, one stored image and one webhook event', async () => {
    const ids: string[] = [];
    // Two workers take up to BATCH_MAX (4 on the CPU) jobs each: 14 leave some waiting behind the 8 running.
    for (let i = 0; i < 14; i++) {
      const r = await api('/v1/images/generations', {
        body: { prompt: `a green star ${i}`, aspect_ratio: '1:1', webhook_url: receiver.url },
      });
      expect(r.status).toBe(202);
      ids.push(String(r.json['id']));
    }
    await until('jobs running while others wait', async () => {
      const statuses = await Promise.all(ids.map(async (id) => (await store.get(id))?.status));
      return statuses.includes('processing') && statuses.filter((s) => s === 'queued').length >= 3;
    });

    // Stop Redis (it writes its AOF), keep it down until the services have noticed, start it again from
    // the same directory.
    await redisServer.stop();
    const during = await api('/v1/images/generations', { body: { prompt: 'while down' } });
    expect(during.status).toBe(503);
    expect(during.json['error']).toMatchObject({ code: 'service_unavailable' });
    await until('the API and the dispatcher to report Redis down', async () => {
      const [apiReady, dispatcherReady] = await Promise.all([
        api('/readyz', { key: null }),
        fetch(`http://127.0.0.1:${dispatcher.port}/readyz`),
      ]);
      return apiReady.json['redis'] === false && dispatcherReady.status === 503;
    });
    redisServer = await startRedis({ appendonly: true, dir, port: redisServer.port });
    stack.redis = redisServer;

    const finals = await until(
      'every job to be terminal',
      async () => {
        const recs = await Promise.all(ids.map((id) => store.get(id)));
        return recs.every(
          (r) => r && ['succeeded', 'failed', 'canceled', 'expired', 'moderated'].includes(r.status),
        )
          ? recs
          : null;
      },
      120_000,
    );
    expect(finals.map((r) => r!.status)).toEqual(ids.map(() => 'succeeded'));
    for (const id of ids) {
      const seen = await events.read(id);
      expect(seen.filter((e) => e.type === 'completed')).toHaveLength(1);
    }
    // One object per job, none extra.
    const objects = new Set((await stackStorage(stack).list()).map((o) => o.key));
    expect(objects.size).toBe(ids.length);
    for (const r of finals) expect(objects.has(r!.image!.key)).toBe(true);
    // Every terminal event reached the webhook receiver (the outbox is in the AOF too), once per id.
    await until('a webhook for every job', () => ids.every((id) => receiver.forJob(id).length > 0), 60_000);
    for (const id of ids) {
      const got = receiver.forJob(id);
      const body = verifyWebhook(got[0]!.headers, got[0]!.body, stack.webhookSecret);
      expect(body).toMatchObject({ type: 'image.generation.succeeded', data: { id } });
      expect(new Set(got.map((d) => d.headers['webhook-id'])).size).toBe(1);
    }
    // The API serves again.
    const after = await api('/v1/images/generations', {
      body: { prompt: 'after', aspect_ratio: '1:1' },
      headers: { prefer: 'wait=60' },
    });
    expect(after.json['status']).toBe('succeeded');
  });
});
