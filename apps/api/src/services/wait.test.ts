import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { MemoryJobRepository } from '@imagegen/jobs/testing';

import { seedJob } from '../../../../test/support/fakes.js';
import { parseWaitSeconds, waitForTerminal } from './wait.js';

// Time only moves when a test moves it: a wait that resolves did so on an event, not a poll.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function world() {
  const jobs = new MemoryJobRepository();
  const job = await seedJob(jobs);
  await jobs.start(job.id, 1, 'host:1');
  const record = (await jobs.get(job.id))!;
  return { jobs, job, record, deps: { jobs, events: jobs } };
}

describe('waiting for a generation', () => {
  it('answers as soon as the job ends, without waiting for a poll', async () => {
    const { jobs, job, record, deps } = await world();
    const started = Date.now();
    const waiting = waitForTerminal(deps, record, 30);
    await jobs.finish(job.id, job.keyId, 'succeeded', {});
    const done = await waiting;
    expect(done.status).toBe('succeeded');
    expect(Date.now() - started).toBe(0);
  }, 2000);

  it('answers with the job as it is now once the wait is over', async () => {
    const { jobs, job, record, deps } = await world();
    const waiting = waitForTerminal(deps, record, 3);
    await jobs.progress(job.id, 'generating', 5, 10, 0.5);
    await vi.advanceTimersByTimeAsync(2999);
    let settled = false;
    void waiting.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const now = await waiting;
    expect(now).toMatchObject({ status: 'processing', stage: 'generating', progress: 0.5 });
  });

  it('picks up a finish it was not told about at its next poll', async () => {
    const { jobs, job, record } = await world();
    const deaf = { jobs, events: { listen: () => () => undefined }, pollMs: 500 };
    const waiting = waitForTerminal(deaf, record, 30);
    await jobs.finish(job.id, job.keyId, 'failed', {});
    await vi.advanceTimersByTimeAsync(500);
    expect((await waiting).status).toBe('failed');
  });

  it('answers at once when the process starts shutting down', async () => {
    const { record, deps } = await world();
    const shutdown = new AbortController();
    const waiting = waitForTerminal({ ...deps, shutdown: shutdown.signal }, record, 30);
    shutdown.abort();
    expect((await waiting).status).toBe('processing');
  }, 2000);

  it('does not wait at all once shutdown has begun, nor for a job that has ended, nor for 0 s', async () => {
    const { jobs, job, record, deps } = await world();
    const shutdown = new AbortController();
    shutdown.abort();
    expect((await waitForTerminal({ ...deps, shutdown: shutdown.signal }, record, 30)).status).toBe(
      'processing',
    );
    expect(await waitForTerminal(deps, record, 0)).toBe(record);
    await jobs.finish(job.id, job.keyId, 'canceled', {});
    const ended = (await jobs.get(job.id))!;
    expect(await waitForTerminal(deps, ended, 30)).toBe(ended);
  });
});

describe('the wait parameter', () => {
  it('reads whole seconds, clamps them to the maximum, and refuses anything else', () => {
    expect(parseWaitSeconds(undefined, 60)).toBe(0);
    expect(parseWaitSeconds('5', 60)).toBe(5);
    expect(parseWaitSeconds('600', 60)).toBe(60);
    expect(parseWaitSeconds('-1', 60)).toBeNull();
    expect(parseWaitSeconds('1.5', 60)).toBeNull();
    expect(parseWaitSeconds(['5'], 60)).toBeNull();
  });
});
