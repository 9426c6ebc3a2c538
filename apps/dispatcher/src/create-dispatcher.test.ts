import { describe, expect, it } from 'vitest';

import type { WebhookDelivery } from '@imagegen/contracts';
import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createMetrics } from '@imagegen/observability';

import {
  FakeApiKeys,
  FakeGenerationQueue,
  FakeStorage,
  seedJob,
  silentLogger,
} from '../../../test/support/fakes.js';
import { createDispatcher } from './create-dispatcher.js';

const HOOK = { url: 'https://hooks.example.com/x', events: ['completed' as const] };

/** The dispatcher built from fakes, as `startDispatcher` builds it from Redis and S3. */
function world() {
  const jobs = new MemoryJobRepository();
  const generations = new FakeGenerationQueue();
  const queued: { delivery: WebhookDelivery; attempts: number }[] = [];
  const posted: { url: string; body: string }[] = [];
  const apiKeys = new FakeApiKeys();
  const storage = Object.assign(new FakeStorage(), { sweep: () => Promise.resolve(0) });
  const dispatcher = createDispatcher({
    jobs,
    reader: {
      claimAbandoned: () => Promise.resolve([]),
      readNew: () => Promise.resolve([]),
      ack: () => Promise.resolve(),
    },
    generations,
    deliveries: {
      add: (delivery, attempts) => {
        queued.push({ delivery, attempts });
        return Promise.resolve();
      },
    },
    apiKeys,
    storage,
    deliver: (req) => {
      posted.push({ url: req.url, body: req.body });
      return Promise.resolve({ ok: true, status: 204 });
    },
    metrics: createMetrics('dispatcher'),
    logger: silentLogger(),
    retrySchedule: [5000, 300_000],
    intentGraceMs: 0,
  });
  return { jobs, generations, queued, posted, apiKeys, dispatcher };
}

describe('createDispatcher', () => {
  it('wires the janitor to the generation queue: a job a dead submit left behind is queued', async () => {
    const { jobs, generations, dispatcher } = world();
    const job = await seedJob(jobs, { createdAt: Date.now() - 1000 });
    jobs.intents.set(job.id, Date.now() - 1000);
    expect(await dispatcher.janitor.enqueueLeftBehind()).toBe(1);
    expect(generations.enqueued).toEqual([{ id: job.id, keyId: job.keyId, objectKey: job.objectKey }]);
  });

  it('gives a terminal event the retry schedule’s length + 1 attempts, and delivers it signed', async () => {
    const { jobs, queued, posted, apiKeys, dispatcher } = world();
    const key = await apiKeys.create('hooks');
    const job = await seedJob(jobs, { webhook: HOOK, keyId: key.id });
    await jobs.start(job.id, 1, 'w');
    await jobs.finish(job.id, job.keyId, 'canceled', {});
    const [, completed] = await jobs.read(job.id, '0').then((e) => e.filter((x) => x.type !== 'started'));
    await dispatcher.pump.handOver([
      { entryId: '1-0', entry: { job: job.id, type: 'completed', event: completed!.id } },
    ]);
    expect(queued.map((q) => q.attempts)).toEqual([3]);
    await dispatcher.handlers.deliverWebhook({
      id: 'msg_1',
      data: queued[0]!.delivery,
      attemptsMade: 0,
      stalledCounter: 0,
      defer: () => Promise.reject(new Error('this test does not defer')),
      maxAttempts: 3,
    });
    expect(posted).toHaveLength(1);
    expect(JSON.parse(posted[0]!.body)).toMatchObject({
      type: 'image.generation.canceled',
      data: { id: job.id },
    });
    expect((await jobs.get(job.id))!.webhookState).toMatchObject({ status: 'delivered', attempts: 1 });
  });
});
