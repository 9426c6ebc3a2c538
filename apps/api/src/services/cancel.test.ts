import { afterEach, describe, expect, it, vi } from 'vitest';

import { AppError } from '@imagegen/contracts';
import { MemoryJobRepository } from '@imagegen/jobs/testing';

import { FakeGenerationQueue, seedJob } from '../../../../test/support/fakes.js';
import { cancelGeneration, type CancelDeps } from './cancel.js';

afterEach(() => {
  vi.useRealTimers();
});

function world() {
  const jobs = new MemoryJobRepository();
  const queue = new FakeGenerationQueue();
  const deps: CancelDeps = { jobs, events: jobs, queue, runningWaitS: 10 };
  return { jobs, queue, deps };
}

/** A job a worker has taken. */
async function running(jobs: MemoryJobRepository) {
  const job = await seedJob(jobs);
  await jobs.start(job.id, 1, 'host:1');
  return job;
}

/** Stands in for the worker: it stops the job as canceled when its cancel request arrives. */
function workerThatStops(jobs: MemoryJobRepository): CancelDeps['jobs'] {
  return {
    get: (id) => jobs.get(id),
    finish: (...args) => jobs.finish(...args),
    requestCancel: async (id) => {
      const status = await jobs.requestCancel(id);
      setImmediate(() => void jobs.finish(id, 'key1', 'canceled', {}));
      return status;
    },
  };
}

describe('canceling a generation', () => {
  it('ends a queued job at once and drops it from the queue', async () => {
    const { jobs, queue, deps } = world();
    const job = await seedJob(jobs);
    const { record, canceled } = await cancelGeneration(deps, (await jobs.get(job.id))!);
    expect(canceled).toBe(true);
    expect(record.status).toBe('canceled');
    expect(queue.removed).toEqual([job.id]);
    expect((await jobs.read(job.id)).map((e) => e.type)).toEqual(['queued', 'completed']);
  });

  it('stops a running job through its worker and answers canceled once the worker has stopped', async () => {
    const { jobs, queue, deps } = world();
    const job = await running(jobs);
    const { record, canceled } = await cancelGeneration(
      { ...deps, jobs: workerThatStops(jobs) },
      (await jobs.get(job.id))!,
    );
    expect(canceled).toBe(true);
    expect(record.status).toBe('canceled');
    expect(jobs.cancelRequests).toEqual([job.id]);
    // A running job is not in the queue's waiting list: nothing to remove.
    expect(queue.removed).toEqual([]);
  });

  it('answers not-yet-canceled after the wait when the worker does not stop in time', async () => {
    vi.useFakeTimers();
    const { jobs, deps } = world();
    const job = await running(jobs);
    const pending = cancelGeneration(deps, (await jobs.get(job.id))!);
    await vi.advanceTimersByTimeAsync(10_000);
    const { record, canceled } = await pending;
    expect(canceled).toBe(false);
    expect(record).toMatchObject({ status: 'processing', cancelRequested: true });
    expect(jobs.cancelRequests).toEqual([job.id]);
  });

  it('cancels through the worker a job that a worker took after it was read as queued', async () => {
    const { jobs, queue, deps } = world();
    const job = await seedJob(jobs);
    const asRead = (await jobs.get(job.id))!;
    await jobs.start(job.id, 1, 'host:1');
    const { record, canceled } = await cancelGeneration({ ...deps, jobs: workerThatStops(jobs) }, asRead);
    expect(canceled).toBe(true);
    expect(record.status).toBe('canceled');
    expect(queue.removed).toEqual([]);
  });

  it('returns a canceled job as it is: canceling twice is harmless', async () => {
    const { jobs, queue, deps } = world();
    const job = await seedJob(jobs);
    await cancelGeneration(deps, (await jobs.get(job.id))!);
    const again = await cancelGeneration(deps, (await jobs.get(job.id))!);
    expect(again).toMatchObject({ canceled: true, record: { status: 'canceled' } });
    expect(queue.removed).toEqual([job.id]);
  });

  it('refuses to cancel a job that already ended otherwise: 409 conflict', async () => {
    const { jobs, deps } = world();
    const job = await running(jobs);
    await jobs.finish(job.id, 'key1', 'succeeded', {});
    const err: unknown = await cancelGeneration(deps, (await jobs.get(job.id))!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'conflict', httpStatus: 409 });
    expect((err as AppError).message).toContain('succeeded');
    expect((await jobs.get(job.id))!.status).toBe('succeeded');
  });

  it('refuses when the job ends otherwise while the cancel is on its way', async () => {
    const { jobs, deps } = world();
    const job = await running(jobs);
    const asRead = (await jobs.get(job.id))!;
    await jobs.finish(job.id, 'key1', 'failed', {
      error: { code: 'timeout', message: 'too slow', retryable: true },
    });
    await expect(cancelGeneration(deps, asRead)).rejects.toMatchObject({ code: 'conflict' });
  });
});
