import { describe, expect, it } from 'vitest';

import type { WebhookDelivery } from '@imagegen/contracts';
import type { OutboxItem } from '@imagegen/jobs';
import { MemoryJobRepository } from '@imagegen/jobs/testing';

import { FakeStorage, seedJob, silentLogger } from '../../../test/support/fakes.js';
import { OutboxPump } from './outbox-pump.js';

const TERMINAL_ATTEMPTS = 8;
const INTERMEDIATE_ATTEMPTS = 3;
const HOOK = { url: 'https://hooks.example.com/x', events: ['started' as const, 'completed' as const] };

function world() {
  const jobs = new MemoryJobRepository();
  const acked: string[] = [];
  const queued: { delivery: WebhookDelivery; attempts: number }[] = [];
  let addFails: Error | null = null;
  const pump = new OutboxPump({
    reader: {
      claimAbandoned: () => Promise.resolve([]),
      readNew: () => Promise.resolve([]),
      ack: (id) => {
        acked.push(id);
        return Promise.resolve();
      },
    },
    jobs,
    queue: {
      add: (delivery, attempts) => {
        if (addFails) return Promise.reject(addFails);
        queued.push({ delivery, attempts });
        return Promise.resolve();
      },
    },
    storage: new FakeStorage(),
    logger: silentLogger(),
    terminalAttempts: TERMINAL_ATTEMPTS,
    intermediateAttempts: INTERMEDIATE_ATTEMPTS,
  });
  return { jobs, acked, queued, pump, failAdds: (e: Error | null) => (addFails = e) };
}

const item = (entryId: string, job: string, type: 'started' | 'completed', event = '1700000000000-0') =>
  ({ entryId, entry: { job, type, event } }) satisfies OutboxItem;

describe('OutboxPump.handOver', () => {
  it('queues a terminal event with the job as it ended and the full retry schedule, then acks it', async () => {
    const { jobs, acked, queued, pump } = world();
    const job = await seedJob(jobs, { webhook: HOOK });
    await jobs.start(job.id, 1, 'host:1');
    await jobs.finish(job.id, job.keyId, 'succeeded', {
      image: { key: job.objectKey, bytes: 10, width: 64, height: 64, format: 'jpeg', revised_prompt: null },
    });
    await pump.handOver([item('1-0', job.id, 'completed', '1700000000123-4')]);
    expect(queued).toHaveLength(1);
    const { delivery, attempts } = queued[0]!;
    expect(attempts).toBe(TERMINAL_ATTEMPTS);
    expect(delivery).toMatchObject({
      jobId: job.id,
      keyId: job.keyId,
      url: HOOK.url,
      kind: 'completed',
      eventId: '1700000000123-4',
      snapshot: { id: job.id, status: 'succeeded', output: { width: 64, expired: false } },
    });
    expect(delivery.snapshot?.image_url).toMatch(/^https:\/\/images\.test\//);
    expect(acked).toEqual(['1-0']);
  });

  it('queues other events without a snapshot and with the short retry budget', async () => {
    const { jobs, acked, queued, pump } = world();
    const job = await seedJob(jobs, { webhook: HOOK });
    await pump.handOver([item('2-0', job.id, 'started')]);
    expect(queued).toEqual([
      {
        delivery: {
          jobId: job.id,
          keyId: job.keyId,
          url: HOOK.url,
          kind: 'started',
          eventId: '1700000000000-0',
          snapshot: null,
        },
        attempts: INTERMEDIATE_ATTEMPTS,
      },
    ]);
    expect(acked).toEqual(['2-0']);
  });

  it('acks without queueing an entry of a job that has no webhook or no longer exists', async () => {
    const { jobs, acked, queued, pump } = world();
    const job = await seedJob(jobs);
    await pump.handOver([item('3-0', job.id, 'completed'), item('3-1', 'gen_purged', 'completed')]);
    expect(queued).toEqual([]);
    expect(acked).toEqual(['3-0', '3-1']);
  });

  it('acks and drops an entry that is not a valid intent', async () => {
    const { acked, queued, pump } = world();
    await pump.handOver([{ entryId: '4-0', entry: null }]);
    expect(queued).toEqual([]);
    expect(acked).toEqual(['4-0']);
  });

  it('does not ack an entry it could not queue, so another pass delivers it', async () => {
    const { jobs, acked, queued, pump, failAdds } = world();
    const job = await seedJob(jobs, { webhook: HOOK });
    failAdds(new Error('redis down'));
    await expect(pump.handOver([item('5-0', job.id, 'started')])).rejects.toThrow('redis down');
    expect(acked).toEqual([]);
    failAdds(null);
    await pump.handOver([item('5-0', job.id, 'started')]);
    expect(queued).toHaveLength(1);
    expect(acked).toEqual(['5-0']);
  });
});
