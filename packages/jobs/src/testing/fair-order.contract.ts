import { expect, it } from 'vitest';

import type { KeySchedulingSettings } from '../job-repository.js';
import { contractFixtures, type ContractSubject } from './contract-fixtures.js';

/** A store of its own (an empty waiting set), and a way to set a key's scheduling as the admin does. */
export interface FairSubject extends ContractSubject {
  setKey(keyId: string, settings: Partial<KeySchedulingSettings>): Promise<void>;
}

/**
 * The fair order over keys and the concurrency policies, run against Redis and the in-memory fake: each
 * test gets a fresh store (`make`), since the order depends on everything that waits.
 */
export function fairOrderContract(make: () => Promise<FairSubject>): void {
  const { newJob, sameKey } = contractFixtures();
  const limits = { concurrency: 1000, queueBound: 0 };

  /** The waiting jobs in the order workers take them (by queue position). */
  const order = async (s: FairSubject, ids: string[]) => {
    const positions = await Promise.all(ids.map(async (id) => [id, await s.jobs.queuePosition(id)] as const));
    return positions
      .filter(([, p]) => p !== null)
      .sort((a, b) => a[1]! - b[1]!)
      .map(([id]) => id);
  };

  it('puts a new key’s job behind at most one job of a key with 200 queued, with W workers busy', async () => {
    for (const workers of [1, 2, 4]) {
      const s = await make();
      const a = newJob('flood');
      const aIds = [a.id];
      await s.jobs.submit(a, limits, null);
      for (let i = 1; i < 200; i++) {
        const j = sameKey(a);
        aIds.push(j.id);
        await s.jobs.submit(j, limits, null);
      }
      // W workers take the first W jobs.
      for (const id of aIds.slice(0, workers)) expect((await s.jobs.start(id, 1, 'w')).kind).toBe('started');
      const b = newJob('late');
      const created = await s.jobs.submit(b, limits, null);
      expect(created.kind).toBe('created');
      const next = await order(s, [...aIds, b.id]);
      // B is taken before A's second next job (the property asks: before A's (W + 1)-th).
      expect(next.indexOf(b.id), `W = ${workers}`).toBeLessThanOrEqual(1);
      // Positions are exact: 0, 1, 2, … in the order of the BullMQ priorities (rounds), then submit order.
      const positions = await Promise.all(next.map((id) => s.jobs.queuePosition(id)));
      expect(positions).toEqual(next.map((_, i) => i));
      const rounds = await Promise.all(next.map(async (id) => (await s.jobs.get(id))!.priority));
      expect(rounds).toEqual([...rounds].sort((x, y) => x - y));
    }
  });

  it('interleaves keys round by round, a key of weight w getting w jobs a round', async () => {
    const s = await make();
    const a = newJob('a');
    const b = newJob('b');
    await s.setKey(b.keyId, { weight: 3 });
    const ids: Record<string, string> = {};
    const jobs = [
      a,
      ...Array.from({ length: 5 }, () => sameKey(a)),
      b,
      ...Array.from({ length: 8 }, () => sameKey(b)),
    ];
    for (const j of jobs) {
      ids[j.id] = j.keyId === a.keyId ? 'A' : 'B';
      await s.jobs.submit(j, limits, null);
    }
    const taken = (await order(s, Object.keys(ids))).map((id) => ids[id]).join('');
    // Rounds 1 to 3: A's job (submitted first), then three of B's; then A's rest, one a round.
    expect(taken).toBe('ABBBABBBABBBAAA');
  });

  it('holds jobs beyond the concurrency limit under policy queue and releases the oldest as a slot frees', async () => {
    const s = await make();
    const first = newJob('held');
    await s.setKey(first.keyId, { concurrencyPolicy: 'queue' });
    const tight = { concurrency: 2, queueBound: 0 };
    const [a, b, c, d] = [first, sameKey(first), sameKey(first), sameKey(first)];
    expect((await s.jobs.submit(a, tight, null)).kind).toBe('created');
    expect((await s.jobs.submit(b, tight, null)).kind).toBe('created');
    const held = await s.jobs.submit(c, tight, null);
    expect(held).toMatchObject({ kind: 'held', record: { status: 'queued', held: true } });
    expect((await s.jobs.submit(d, tight, null)).kind).toBe('held');
    expect(await s.jobs.queuePosition(c.id)).toBeNull();
    expect(await s.jobs.enqueueIntents(-60_000)).not.toContain(c.id);
    // A slot frees: the oldest held job (c) enters the waiting set with an intent; d stays held.
    const done = await s.jobs.finish(a.id, a.keyId, 'canceled', {});
    expect(done).toMatchObject({
      kind: 'done',
      released: { id: c.id, keyId: c.keyId, objectKey: c.objectKey },
    });
    expect(await s.jobs.queuePosition(c.id)).not.toBeNull();
    expect(await s.jobs.enqueueIntents(-60_000)).toContain(c.id);
    expect(await s.jobs.get(c.id)).toMatchObject({ held: false, status: 'queued' });
    expect((await s.jobs.get(c.id))!.priority).toBeGreaterThan(0);
    expect(await s.jobs.get(d.id)).toMatchObject({ held: true });
    // A held job canceled while held frees nothing and is released by nobody.
    expect(await s.jobs.finish(d.id, d.keyId, 'canceled', {}, { onlyFrom: 'queued' })).toMatchObject({
      kind: 'done',
      released: null,
    });
    expect(await s.jobs.finish(b.id, b.keyId, 'canceled', {})).toMatchObject({ released: null });
  });

  it('refuses beyond the concurrency limit under policy reject (the default)', async () => {
    const s = await make();
    const first = newJob('rej');
    const tight = { concurrency: 1, queueBound: 0 };
    expect((await s.jobs.submit(first, tight, null)).kind).toBe('created');
    expect(await s.jobs.submit(sameKey(first), tight, null)).toEqual({ kind: 'concurrency', unfinished: 1 });
    await s.setKey(first.keyId, { concurrencyPolicy: 'reject' });
    expect((await s.jobs.submit(sameKey(first), tight, null)).kind).toBe('concurrency');
  });
}
