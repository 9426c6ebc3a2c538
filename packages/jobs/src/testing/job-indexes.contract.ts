import { expect, it } from 'vitest';

import type { NewJobRecord } from '@imagegen/contracts';

import { contractFixtures, type ContractSubject } from './contract-fixtures.js';

/** The indexes and events every JobRepository must keep: expiry, webhook log, list, running, listeners. */
export function jobIndexesContract(make: () => ContractSubject): void {
  const { newJob, sameKey, limits, image } = contractFixtures();

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

  it('expires the most overdue waiting job first, whatever its place in the fair order', async () => {
    const { jobs } = make();
    const busy = newJob('exp-order');
    const roomy = { concurrency: 10, queueBound: 0 };
    for (let i = 0; i < 3; i++) await jobs.submit({ ...newJob('exp-order'), keyId: busy.keyId }, roomy, null);
    // The busy key's fourth job waits behind its other three (three rounds back), and is the most overdue.
    const overdue = { ...newJob('exp-order'), keyId: busy.keyId, deadlineAt: Date.now() - 600_000 };
    await jobs.submit(overdue, roomy, null);
    const ahead = newJob('exp-order-other');
    await jobs.submit(ahead, roomy, null);
    expect(await jobs.queuePosition(overdue.id)).toBeGreaterThan((await jobs.queuePosition(ahead.id))!);
    expect(await jobs.expireOverdue(Date.now(), 1)).toEqual([{ id: overdue.id, keyId: busy.keyId }]);
    expect(await jobs.queuePosition(overdue.id)).toBeNull();
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
