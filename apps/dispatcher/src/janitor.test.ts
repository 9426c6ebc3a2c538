import { describe, expect, it } from 'vitest';

import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createMetrics } from '@imagegen/observability';

import { FakeGenerationQueue, seedJob, silentLogger } from '../../../test/support/fakes.js';
import { Janitor } from './janitor.js';

const GRACE_MS = 30_000;

function world() {
  const jobs = new MemoryJobRepository();
  const queue = new FakeGenerationQueue();
  let swept = 0;
  const janitor = new Janitor({
    jobs,
    queue,
    storage: { sweep: () => Promise.resolve(swept) },
    metrics: createMetrics('dispatcher'),
    logger: silentLogger(),
    intentGraceMs: GRACE_MS,
  });
  return { jobs, queue, janitor, setSwept: (n: number) => (swept = n) };
}

const longAgo = () => Date.now() - 2 * GRACE_MS;

/** A job whose submit wrote its intent long ago and died before enqueueing it. */
async function leftBehind(jobs: MemoryJobRepository) {
  const job = await seedJob(jobs, { createdAt: longAgo() });
  jobs.intents.set(job.id, longAgo());
  return job;
}

describe('Janitor.enqueueLeftBehind', () => {
  it('hands to the queue a job whose submit died before enqueueing it, and clears its intent', async () => {
    const { jobs, queue, janitor } = world();
    const job = await leftBehind(jobs);
    expect(await janitor.enqueueLeftBehind()).toBe(1);
    expect(queue.enqueued).toEqual([{ id: job.id, keyId: job.keyId, objectKey: job.objectKey }]);
    expect(jobs.intents.size).toBe(0);
    // A second run finds nothing left to do.
    expect(await janitor.enqueueLeftBehind()).toBe(0);
    expect(queue.enqueued).toHaveLength(1);
  });

  it('drops the intent of a job that has ended or is gone, without enqueueing it', async () => {
    const { jobs, queue, janitor } = world();
    const job = await leftBehind(jobs);
    await jobs.finish(job.id, job.keyId, 'canceled', {});
    jobs.intents.set(job.id, longAgo());
    jobs.intents.set('gen_purged', longAgo());
    expect(await janitor.enqueueLeftBehind()).toBe(0);
    expect(queue.enqueued).toEqual([]);
    expect(jobs.intents.size).toBe(0);
  });

  it('leaves a young intent to the submit that is still enqueueing it', async () => {
    const { jobs, queue, janitor } = world();
    const job = await seedJob(jobs);
    expect(await janitor.enqueueLeftBehind()).toBe(0);
    expect(queue.enqueued).toEqual([]);
    expect(jobs.intents.has(job.id)).toBe(true);
  });

  it('keeps the intent when the queue cannot be reached, to try again next run', async () => {
    const { jobs, queue, janitor } = world();
    const job = await leftBehind(jobs);
    queue.mode = new Error('connection refused');
    await expect(janitor.enqueueLeftBehind()).rejects.toThrow('connection refused');
    expect(jobs.intents.has(job.id)).toBe(true);
    queue.mode = 'ok';
    expect(await janitor.enqueueLeftBehind()).toBe(1);
  });
});

describe('Janitor.expireOverdue', () => {
  it('ends queued jobs past their deadline as expired and removes them from the queue', async () => {
    const { jobs, queue, janitor } = world();
    const late = await seedJob(jobs, { deadlineAt: Date.now() - 1 });
    const onTime = await seedJob(jobs);
    expect(await janitor.expireOverdue()).toBe(1);
    expect(await jobs.get(late.id)).toMatchObject({ status: 'expired', error: { code: 'expired' } });
    expect((await jobs.get(onTime.id))!.status).toBe('queued');
    expect(queue.removed).toEqual([late.id]);
  });

  it('leaves a running job alone however late it is', async () => {
    const { jobs, queue, janitor } = world();
    const job = await seedJob(jobs, { deadlineAt: Date.now() - 1 });
    await jobs.start(job.id, 1, 'host:1');
    expect(await janitor.expireOverdue()).toBe(0);
    expect((await jobs.get(job.id))!.status).toBe('processing');
    expect(queue.removed).toEqual([]);
  });
});

describe('Janitor.sweep', () => {
  it('reports how many expired images the store deleted; concurrent runs share one sweep', async () => {
    const { janitor, setSwept } = world();
    setSwept(3);
    const [a, b] = await Promise.all([janitor.sweep(), janitor.sweep()]);
    expect([a, b]).toEqual([3, 3]);
  });
});

describe('Janitor.reapOrphans', () => {
  /** A job a worker started a while ago, as BullMQ now holds it. */
  async function startedLongAgo(jobs: MemoryJobRepository, queue: FakeGenerationQueue, bullState: string) {
    const job = await seedJob(jobs);
    await jobs.start(job.id, 5, 'host:1');
    jobs.running.set(job.id, Date.now() - 10 * 60_000);
    queue.states.set(job.id, bullState);
    return job;
  }

  it('ends as worker_lost a processing job that BullMQ no longer runs, freeing its slot', async () => {
    const { jobs, queue, janitor } = world();
    const failed = await startedLongAgo(jobs, queue, 'failed');
    const gone = await startedLongAgo(jobs, queue, 'unknown');
    expect(await janitor.reapOrphans()).toBe(2);
    for (const j of [failed, gone]) {
      expect(await jobs.get(j.id)).toMatchObject({
        status: 'failed',
        error: { code: 'worker_lost', retryable: true },
      });
    }
    expect(jobs.unfinished.get(failed.keyId)?.size ?? 0).toBe(0);
  });

  it('leaves jobs BullMQ still runs or will retry, and young ones', async () => {
    const { jobs, queue, janitor } = world();
    const active = await startedLongAgo(jobs, queue, 'active');
    const delayed = await startedLongAgo(jobs, queue, 'delayed');
    const young = await seedJob(jobs);
    await jobs.start(young.id, 1, 'host:1');
    queue.states.set(young.id, 'failed');
    expect(await janitor.reapOrphans()).toBe(0);
    for (const j of [active, delayed, young]) expect((await jobs.get(j.id))!.status).toBe('processing');
  });
});
