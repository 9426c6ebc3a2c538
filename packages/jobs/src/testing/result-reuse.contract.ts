import { randomUUID } from 'node:crypto';

import { expect, it } from 'vitest';

import type { NewJobRecord } from '@imagegen/contracts';

import type { ReleasedJob, ResultCacheClaim } from '../job-repository.js';
import type { AttachedHooks } from '../result-reuse.js';
import { contractFixtures, type ContractSubject } from './contract-fixtures.js';

/**
 * Result reuse (api.md "Caching") as every JobRepository must do it, against Redis and the in-memory fake:
 * the key's entry per digest, a hit on an alive result, attaching to a running identical job and what its
 * finish does with the attached jobs, the `no-cache` refresh, and never across keys.
 */
export function resultReuseContract(make: (hooks: AttachedHooks) => ContractSubject): void {
  const { newJob, sameKey, limits, image } = contractFixtures();
  const claim = (digest: string, lookup = true): { cache: ResultCacheClaim } => ({
    cache: { digest, lookup, ttlSeconds: 600, objectTtlMs: 3_600_000, minLifeMs: 60_000 },
  });
  const digest = () => randomUUID().replaceAll('-', '');
  /** A job of the same key with its own object key. */
  const twin = (job: NewJobRecord): NewJobRecord => {
    const j = sameKey(job);
    return { ...j, objectKey: `images/${j.id}.png` };
  };
  /** Hooks that record what they were asked to do. */
  const recording = (copyFails = false) => {
    const copies: [string, string][] = [];
    const enqueued: ReleasedJob[] = [];
    const hooks: AttachedHooks = {
      copyImage: (from, to) => {
        copies.push([from, to]);
        return copyFails ? Promise.reject(new Error('no such object')) : Promise.resolve();
      },
      enqueueReleased: (job) => {
        enqueued.push(job);
        return Promise.resolve();
      },
    };
    return { hooks, copies, enqueued };
  };

  it('answers an identical request from an alive result, and attaches one to a running job', async () => {
    const { hooks, copies } = recording();
    const { jobs } = make(hooks);
    const d = digest();
    const first = newJob('reuse');
    expect((await jobs.submit(first, limits, null, claim(d))).kind).toBe('created');
    // While the first runs, an identical request waits for it: a slot, no place in the queue.
    await jobs.start(first.id, 1, 'w1');
    const second = twin(first);
    expect(await jobs.submit(second, limits, null, claim(d))).toMatchObject({
      kind: 'attached',
      to: first.id,
      record: { status: 'queued', attachedTo: first.id },
    });
    expect(await jobs.queuePosition(second.id)).toBeNull();
    expect(await jobs.enqueueIntents(-60_000)).not.toContain(second.id);
    // The first succeeds: the attached job gets a copy of its image, under its own key, at once.
    const done = await jobs.finish(first.id, first.keyId, 'succeeded', {
      image: { ...image, key: first.objectKey },
      timings: { generate: 900 },
    });
    expect(done).toMatchObject({ kind: 'done', attached: [{ id: second.id, objectKey: second.objectKey }] });
    expect(copies).toEqual([[first.objectKey, second.objectKey]]);
    const copied = await jobs.get(second.id);
    expect(copied).toMatchObject({
      status: 'succeeded',
      cached: true,
      attachedTo: null,
      image: { ...image, key: second.objectKey },
    });
    expect(copied!.timings).not.toHaveProperty('generate');
    expect(await jobs.enqueueIntents(-60_000)).not.toContain(second.id);
    // Later, an identical request is answered from the alive result (the caller copies it).
    const third = twin(first);
    expect(await jobs.submit(third, limits, null, claim(d))).toMatchObject({
      kind: 'cached',
      record: { id: third.id, status: 'queued' },
      source: { id: first.id, status: 'succeeded', image: { key: first.objectKey } },
    });
    expect((await jobs.get(first.id))!.cached).toBe(false);
  });

  it('lets jobs attached to a job that did not succeed run on their own, at a fresh deadline', async () => {
    const { hooks, copies, enqueued } = recording();
    const { jobs } = make(hooks);
    const d = digest();
    const first = newJob('reuse-fail');
    await jobs.submit(first, limits, null, claim(d));
    const second = twin(first);
    const before = Date.now();
    expect((await jobs.submit(second, limits, null, claim(d))).kind).toBe('attached');
    await jobs.finish(first.id, first.keyId, 'failed', {
      error: { code: 'x', message: 'y', retryable: true },
    });
    expect(copies).toEqual([]);
    expect(enqueued.map((j) => j.id)).toEqual([second.id]);
    const released = await jobs.get(second.id);
    expect(released).toMatchObject({ status: 'queued', attachedTo: null, cached: false });
    expect(released!.deadlineAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(await jobs.queuePosition(second.id)).not.toBeNull();
    // The next identical request finds no result: it generates and becomes the entry.
    const third = twin(first);
    expect((await jobs.submit(third, limits, null, claim(d))).kind).toBe('created');
    await jobs.start(third.id, 1, 'w');
    expect(await jobs.submit(twin(first), limits, null, claim(d))).toMatchObject({
      kind: 'attached',
      to: third.id,
    });
  });

  it('enqueues an attached job whose copy fails, and skips one canceled while attached', async () => {
    const { hooks, enqueued } = recording(true);
    const { jobs } = make(hooks);
    const d = digest();
    const first = newJob('reuse-copy');
    await jobs.submit(first, limits, null, claim(d));
    const kept = twin(first);
    const canceled = twin(first);
    await jobs.submit(kept, limits, null, claim(d));
    await jobs.submit(canceled, limits, null, claim(d));
    await jobs.finish(canceled.id, canceled.keyId, 'canceled', {}, { onlyFrom: 'queued' });
    const done = await jobs.finish(first.id, first.keyId, 'succeeded', {
      image: { ...image, key: first.objectKey },
    });
    expect(done).toMatchObject({ attached: [{ id: kept.id }] });
    expect(enqueued.map((j) => j.id)).toEqual([kept.id]);
    expect(await jobs.get(kept.id)).toMatchObject({ status: 'queued', cached: false });
    expect(await jobs.get(canceled.id)).toMatchObject({ status: 'canceled', attachedTo: null });
  });

  it('never reuses across keys, nor a result whose image is about to expire', async () => {
    const { hooks } = recording();
    const { jobs } = make(hooks);
    const d = digest();
    const mine = newJob('reuse-a');
    await jobs.submit(mine, limits, null, claim(d));
    // Another key with the very same digest has an entry of its own.
    const theirs = newJob('reuse-b');
    expect((await jobs.submit(theirs, limits, null, claim(d))).kind).toBe('created');
    // Completed long enough ago that its image has less than minLifeMs left.
    const old = Date.now() - 3_600_000 + 30_000;
    await jobs.finish(mine.id, mine.keyId, 'succeeded', { image }, { now: old });
    expect((await jobs.submit(twin(mine), limits, null, claim(d))).kind).toBe('created');
  });

  it('with lookup off (no-cache) generates anew and offers its own result instead', async () => {
    const { hooks } = recording();
    const { jobs } = make(hooks);
    const d = digest();
    const first = newJob('reuse-refresh');
    await jobs.submit(first, limits, null, claim(d));
    await jobs.finish(first.id, first.keyId, 'succeeded', { image });
    const fresh = twin(first);
    expect((await jobs.submit(fresh, limits, null, claim(d, false))).kind).toBe('created');
    expect(await jobs.submit(twin(first), limits, null, claim(d))).toMatchObject({
      kind: 'attached',
      to: fresh.id,
    });
  });

  it('answers a hit past the key’s concurrency limit; attaching counts against it', async () => {
    const { hooks } = recording();
    const { jobs } = make(hooks);
    const d = digest();
    const first = newJob('reuse-limit');
    await jobs.submit(first, limits, null, claim(d));
    await jobs.finish(first.id, first.keyId, 'succeeded', { image });
    for (let i = 0; i < limits.concurrency; i++) await jobs.submit(twin(first), limits, null);
    expect((await jobs.submit(twin(first), limits, null, claim(d))).kind).toBe('cached');
    const other = digest();
    expect((await jobs.submit(twin(first), limits, null, claim(other))).kind).toBe('concurrency');
  });
}
