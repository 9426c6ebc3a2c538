import { randomUUID } from 'node:crypto';

import { expect, it } from 'vitest';

import type { NewJobRecord } from '@imagegen/contracts';

import type { JobEvents } from '../job-events.js';
import type { JobRepository } from '../job-repository.js';

/**
 * The behaviour every JobRepository must have, run against Redis (the real one) and the in-memory fake
 * (the fast tier's stand-in), so the fake cannot drift from what it stands in for.
 */
export function jobRepositoryContract(
  make: () => {
    jobs: JobRepository;
    events: JobEvents;
    /** Forgets a record as Redis does when its retention ends. */
    purge: (id: string) => Promise<void>;
  },
): void {
  const input = {
    prompt: 'a cat',
    aspect_ratio: '1:1',
    output_format: 'png',
    seed: 1,
    prompt_upsampling: false,
    safety_tolerance: 2,
  } as const;
  const newJob = (keyId: string): NewJobRecord => ({
    id: `gen_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    keyId: `${keyId}-${randomUUID().slice(0, 6)}`,
    input,
    metadata: { order: 7 },
    objectKey: 'images/x.png',
    requestId: 'req_1',
    createdAt: Date.now(),
    deadlineAt: Date.now() + 60_000,
    webhook: null,
    analysis: { subject: 'cat' },
    warnings: [{ code: 'too_short', message: 'add detail' }],
  });
  const sameKey = (job: NewJobRecord): NewJobRecord => ({ ...newJob('x'), keyId: job.keyId });
  const limits = { concurrency: 3, queueBound: 0 };
  const image = {
    key: 'images/x.png',
    bytes: 10,
    width: 1024,
    height: 1024,
    format: 'png',
    revised_prompt: null,
  } as const;

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

  it('expires waiting jobs past their deadline, and only those', async () => {
    const { jobs } = make();
    const late = { ...newJob('exp'), deadlineAt: Date.now() - 1 };
    const fresh = newJob('exp');
    await jobs.submit(late, limits, null);
    await jobs.submit(fresh, limits, null);
    const ended = await jobs.expireOverdue();
    expect(ended).toContainEqual({ id: late.id, keyId: late.keyId });
    expect(ended.map((e) => e.id)).not.toContain(fresh.id);
    expect(await jobs.get(late.id)).toMatchObject({ status: 'expired', error: { code: 'expired' } });
    expect(await jobs.enqueueIntents(-60_000)).not.toContain(late.id);
  });

  it('logs delivery attempts on the job, the terminal event’s outcome winning, never on a purged job', async () => {
    const { jobs } = make();
    const job = {
      ...newJob('hooks'),
      webhook: { url: 'https://hooks.example/x', events: ['started', 'completed'] },
    } as NewJobRecord;
    await jobs.submit(job, limits, null);
    expect((await jobs.get(job.id))!.webhookState).toEqual({
      status: 'pending',
      attempts: 0,
      lastError: null,
      lastAttemptAt: null,
      deliveredAt: null,
    });
    await jobs.recordWebhookAttempt(job.id, {
      terminal: true,
      status: 'delivered',
      error: null,
      at: 5,
      deliveredAt: 5,
    });
    await jobs.recordWebhookAttempt(job.id, {
      terminal: false,
      status: 'retrying',
      error: 'the receiver answered 500',
      at: 6,
      deliveredAt: null,
    });
    expect((await jobs.get(job.id))!.webhookState).toEqual({
      status: 'delivered',
      attempts: 2,
      lastError: null,
      lastAttemptAt: 5,
      deliveredAt: 5,
    });
    await jobs.recordWebhookAttempt('gen_absent', {
      terminal: true,
      status: 'failed',
      error: 'x',
      at: 7,
      deliveredAt: null,
    });
    expect(await jobs.get('gen_absent')).toBeNull();
  });

  it('lists a key’s jobs newest first, page by page, and only that key’s', async () => {
    const { jobs } = make();
    const first = newJob('list');
    const mine = [first, sameKey(first), sameKey(first), sameKey(first), sameKey(first)];
    for (const j of mine) await jobs.submit(j, { concurrency: 10, queueBound: 0 }, null);
    await jobs.submit(newJob('other'), limits, null);
    const seen: string[] = [];
    const pages: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await jobs.listForKey(first.keyId, { limit: 2, beforeSeq: before });
      pages.push(page.records.length);
      seen.push(...page.records.map((r) => r.id));
      if (page.nextBeforeSeq === null) break;
      before = page.nextBeforeSeq;
    }
    expect(seen).toEqual(mine.map((j) => j.id).reverse());
    expect(pages.slice(0, 2)).toEqual([2, 2]);
    expect(await jobs.listForKey('nobody', { limit: 5 })).toEqual({ records: [], nextBeforeSeq: null });
  });

  it('filters the list by status, and drops jobs whose records were purged', async () => {
    const { jobs, purge } = make();
    const a = newJob('filter');
    const [b, c] = [sameKey(a), sameKey(a)];
    for (const j of [a, b, c]) await jobs.submit(j, { concurrency: 10, queueBound: 0 }, null);
    await jobs.finish(b.id, b.keyId, 'canceled', {});
    const canceled = await jobs.listForKey(a.keyId, { limit: 10, statuses: ['canceled'] });
    expect(canceled.records.map((r) => r.id)).toEqual([b.id]);
    const open = await jobs.listForKey(a.keyId, { limit: 10, statuses: ['queued', 'processing'] });
    expect(open.records.map((r) => r.id)).toEqual([c.id, a.id]);
    await purge(c.id);
    expect((await jobs.listForKey(a.keyId, { limit: 10 })).records.map((r) => r.id)).toEqual([b.id, a.id]);
  });

  it('knows which jobs are processing and since when, until they end', async () => {
    const { jobs } = make();
    const j = newJob('running');
    await jobs.submit(j, limits, null);
    expect((await jobs.runningSince(-60_000)).map((r) => r.id)).not.toContain(j.id);
    await jobs.start(j.id, 1, 'w');
    expect(await jobs.runningSince(-60_000)).toContainEqual({ id: j.id, keyId: j.keyId });
    expect((await jobs.runningSince(60_000)).map((r) => r.id)).not.toContain(j.id);
    await jobs.finish(j.id, j.keyId, 'succeeded', { image });
    expect((await jobs.runningSince(-60_000)).map((r) => r.id)).not.toContain(j.id);
  });

  it('hears each new event of a job it listens to', async () => {
    const { jobs, events } = make();
    const j = newJob('listen');
    const heard: string[] = [];
    const done = new Promise<void>((resolve) => {
      const stop = events.listen(j.id, (eventId) => {
        heard.push(eventId);
        if (heard.length === 3) {
          stop();
          resolve();
        }
      });
    });
    await jobs.submit(j, limits, null);
    await jobs.start(j.id, 1, 'w');
    await jobs.finish(j.id, j.keyId, 'succeeded', { image });
    await done;
    expect(heard).toEqual((await events.read(j.id)).map((e) => e.id));
  });
}
