import { expect, it } from 'vitest';

import { contractFixtures, type ContractSubject } from './contract-fixtures.js';
import { jobIndexesContract } from './job-indexes.contract.js';

/**
 * The behaviour every JobRepository must have, run against Redis (the real one) and the in-memory fake
 * (the fast tier's stand-in), so the fake cannot drift from what it stands in for. Records and their
 * transitions here; the indexes (list, intents, running, expiry) and events in job-indexes.contract.ts.
 */
export function jobRepositoryContract(make: () => ContractSubject): void {
  const { input, newJob, sameKey, limits, image } = contractFixtures();

  it('submits a queued job with its position, enqueue intent and event, and reads it back', async () => {
    const { jobs, events } = make();
    const a = newJob('pos');
    const b = newJob('pos');
    expect(await jobs.submit(a, limits, null)).toMatchObject({ kind: 'created' });
    expect(await jobs.submit(b, limits, null)).toMatchObject({ kind: 'created' });
    expect(await jobs.get(a.id)).toMatchObject({
      id: a.id,
      keyId: a.keyId,
      status: 'queued',
      input,
      metadata: { order: 7 },
      objectKey: 'images/x.png',
      attempt: 0,
      analysis: { subject: 'cat' },
      warnings: [{ code: 'too_short', message: 'add detail' }],
      engineCrashes: 0,
    });
    const pa = await jobs.queuePosition(a.id);
    expect(await jobs.queuePosition(b.id)).toBe(pa! + 1);
    expect((await events.read(a.id)).map((e) => e.type)).toEqual(['queued']);
    expect(await jobs.enqueueIntents(-60_000)).toEqual(expect.arrayContaining([a.id, b.id]));
    expect(await jobs.enqueueIntents(60_000)).not.toContain(a.id);
    await jobs.clearEnqueueIntent(a.id);
    expect(await jobs.enqueueIntents(-60_000)).not.toContain(a.id);
    expect(await jobs.get('gen_absent')).toBeNull();
  });

  it('enforces the per-key concurrency limit and frees a slot when a job ends', async () => {
    const { jobs } = make();
    const first = newJob('busy');
    const all = [first, sameKey(first), sameKey(first)];
    for (const j of all) expect((await jobs.submit(j, limits, null)).kind).toBe('created');
    expect(await jobs.submit(sameKey(first), limits, null)).toEqual({ kind: 'concurrency', unfinished: 3 });
    expect((await jobs.submit(newJob('other'), limits, null)).kind).toBe('created');
    await jobs.finish(first.id, first.keyId, 'canceled', {});
    expect((await jobs.submit(sameKey(first), limits, null)).kind).toBe('created');
  });

  it('refuses new jobs past the global queue bound', async () => {
    const { jobs } = make();
    await jobs.submit(newJob('bound'), limits, null);
    const waiting = await jobs.waitingCount();
    expect(await jobs.submit(newJob('bound'), { concurrency: 10, queueBound: waiting }, null)).toEqual({
      kind: 'queue_full',
    });
  });

  it('tells when the job first in the queue was submitted, for the queue-age metric', async () => {
    const { jobs } = make();
    // Jobs other tests left waiting stay ahead of a new one: the answer is the first one's, or the new one's.
    const ahead = await jobs.oldestQueuedAt();
    const job = { ...newJob('age'), createdAt: 1000 };
    await jobs.submit(job, limits, null);
    expect(await jobs.oldestQueuedAt()).toBe(ahead ?? 1000);
    await jobs.finish(job.id, job.keyId, 'canceled', {});
    expect(await jobs.oldestQueuedAt()).toBe(ahead);
  });

  it('replays an idempotency key to the original job, per API key', async () => {
    const { jobs } = make();
    const a = newJob('idem');
    const idem = { keyDigest: 'kd', bodyDigest: 'b1', ttlSeconds: 60 };
    expect((await jobs.submit(a, limits, idem)).kind).toBe('created');
    expect(await jobs.submit(sameKey(a), limits, { ...idem, bodyDigest: 'b2' })).toEqual({
      kind: 'replayed',
      jobId: a.id,
      bodyDigest: 'b1',
    });
    // The same Idempotency-Key of another API key is another key.
    expect((await jobs.submit(newJob('idem'), limits, idem)).kind).toBe('created');
  });

  it('reaches exactly one terminal state, whoever races for it', async () => {
    const { jobs, events } = make();
    const j = newJob('race');
    await jobs.submit(j, limits, null);
    expect(await jobs.start(j.id, 1, 'w1')).toEqual({ kind: 'started' });
    expect(await jobs.queuePosition(j.id)).toBeNull();
    expect(await jobs.enqueueIntents(-60_000)).not.toContain(j.id);
    await jobs.progress(j.id, 'generating', 2, 4, 0.5);
    expect(await jobs.get(j.id)).toMatchObject({
      status: 'processing',
      stage: 'generating',
      progress: 0.5,
      attempt: 1,
      worker: 'w1',
    });
    // A second worker (after a crash) restarts it: attempt 2.
    expect(await jobs.start(j.id, 2, 'w2')).toEqual({ kind: 'started' });
    const results = await Promise.all([
      jobs.finish(j.id, j.keyId, 'succeeded', { image, timings: { generate: 5 } }),
      jobs.finish(j.id, j.keyId, 'failed', { error: { code: 'x', message: 'y', retryable: false } }),
      jobs.finish(j.id, j.keyId, 'canceled', {}),
    ]);
    expect(results.filter((r) => r.kind === 'done')).toHaveLength(1);
    const rec = await jobs.get(j.id);
    expect(rec).toMatchObject({
      status: 'succeeded',
      image,
      progress: 1,
      stage: null,
      timings: { generate: 5 },
    });
    expect(rec!.completedAt).toBeGreaterThan(0);
    expect(await jobs.start(j.id, 3, 'w3')).toEqual({ kind: 'settled', status: 'succeeded' });
    expect(await jobs.finish(j.id, j.keyId, 'failed', {})).toEqual({ kind: 'settled', status: 'succeeded' });
    expect((await events.read(j.id)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      'progress',
      'started',
      'completed',
    ]);
    const [, second] = await events.read(j.id);
    expect((await events.read(j.id, second!.id)).map((e) => e.type)).toEqual([
      'progress',
      'started',
      'completed',
    ]);
  });

  it('finishes only from the status asked for (a cancel never ends a running job)', async () => {
    const { jobs } = make();
    const j = newJob('only');
    await jobs.submit(j, limits, null);
    await jobs.start(j.id, 1, 'w');
    expect(await jobs.finish(j.id, j.keyId, 'canceled', {}, { onlyFrom: 'queued' })).toEqual({
      kind: 'settled',
      status: 'processing',
    });
    expect(await jobs.finish('gen_absent', j.keyId, 'canceled', {})).toEqual({ kind: 'missing' });
  });

  it('cancels: a processing job is flagged, a finished one reports its status', async () => {
    const { jobs } = make();
    const j = newJob('cancel');
    await jobs.submit(j, limits, null);
    expect(await jobs.requestCancel(j.id)).toBe('queued');
    await jobs.start(j.id, 1, 'w');
    expect(await jobs.requestCancel(j.id)).toBe('processing');
    expect((await jobs.get(j.id))!.cancelRequested).toBe(true);
    expect(await jobs.start(j.id, 2, 'w')).toEqual({ kind: 'cancel_requested' });
    await jobs.finish(j.id, j.keyId, 'canceled', {});
    expect(await jobs.requestCancel(j.id)).toBe('canceled');
    expect(await jobs.requestCancel('gen_missing')).toBe('missing');
  });

  it('keeps the revised prompt and counts engine crashes, only while the job is unfinished', async () => {
    const { jobs } = make();
    const j = newJob('fields');
    await jobs.submit(j, limits, null);
    await jobs.setRevisedPrompt(j.id, 'a majestic cat');
    await jobs.countEngineCrash(j.id);
    await jobs.countEngineCrash(j.id);
    await jobs.countShutdownAbandon(j.id);
    expect(await jobs.get(j.id)).toMatchObject({
      revisedPrompt: 'a majestic cat',
      engineCrashes: 2,
      shutdownAbandons: 1,
    });
    await jobs.finish(j.id, j.keyId, 'failed', {});
    await jobs.countEngineCrash(j.id);
    await jobs.setRevisedPrompt('gen_absent', 'x');
    expect((await jobs.get(j.id))!.engineCrashes).toBe(2);
    expect(await jobs.get('gen_absent')).toBeNull();
  });

  jobIndexesContract(make);
}
