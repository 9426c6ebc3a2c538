import { describe, expect, it } from 'vitest';

import { AppError, StorageError } from '@imagegen/contracts';
import type { ConsumedJob } from '@imagegen/jobs';
import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createMetrics } from '@imagegen/observability';
import { createModerator, createUpsampler } from '@imagegen/prompt';

import { FakeEngine, FakeImageStore, seedJob, silentLogger } from '../../../test/support/fakes.js';
import { createWorker } from './create-worker.js';
import type { ProcessorDeps } from './processor.js';

const JOB_TIMEOUT_MS = 300_000;

/** The BullMQ job of a submitted record, first attempt. */
const consumed = (job: { id: string; keyId: string; objectKey: string }): ConsumedJob<'generate'> => ({
  id: job.id,
  data: { id: job.id, keyId: job.keyId, objectKey: job.objectKey },
  attemptsMade: 0,
  stalledCounter: 0,
  maxAttempts: 5,
  defer: () => Promise.reject(new Error('this test does not defer')),
});

describe('createWorker (the handler BullMQ calls)', () => {
  const deps = (jobs: MemoryJobRepository, engine: FakeEngine): ProcessorDeps => ({
    engine,
    jobs,
    storage: new FakeImageStore(),
    metrics: createMetrics('worker'),
    logger: silentLogger(),
    upsampler: createUpsampler({ kind: 'rules' }),
    moderator: createModerator(null),
    jobTimeoutMs: JOB_TIMEOUT_MS,
    deadlineSlackMs: 3000,
    maxCrashes: 2,
    workerName: 'host:1',
  });

  it('resolves for a job that succeeded', async () => {
    const jobs = new MemoryJobRepository();
    const { handlers } = createWorker(deps(jobs, new FakeEngine()));
    const job = await seedJob(jobs);
    await expect(handlers.generate(consumed(job))).resolves.toBeUndefined();
    expect((await jobs.get(job.id))!.status).toBe('succeeded');
  });

  it('tells BullMQ not to retry a job that ended failed', async () => {
    const jobs = new MemoryJobRepository();
    const engine = new FakeEngine();
    engine.mode = { kind: 'throw', error: new AppError('invalid_argument', 'no', { retryable: false }) };
    const { handlers } = createWorker(deps(jobs, engine));
    const job = await seedJob(jobs);
    // BullMQ's UnrecoverableError: the job goes to BullMQ's failed set with no further attempt.
    await expect(handlers.generate(consumed(job))).rejects.toMatchObject({ name: 'UnrecoverableError' });
    expect((await jobs.get(job.id))!.status).toBe('failed');
  });

  it('hands a transient failure back for BullMQ to retry', async () => {
    const jobs = new MemoryJobRepository();
    const engine = new FakeEngine();
    engine.mode = { kind: 'throw', error: new StorageError('S3 did not answer') };
    const { handlers } = createWorker(deps(jobs, engine));
    const job = await seedJob(jobs);
    await expect(handlers.generate(consumed(job))).rejects.toBeInstanceOf(StorageError);
    expect((await jobs.get(job.id))!.status).toBe('processing');
  });
});
