import type { ChildProcess } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectRedis, RedisJobEvents, RedisJobRepository, type Redis } from '@imagegen/jobs';

import { exited, spawnService, until } from '../support/processes.js';
import { mulberry32 } from '../support/prng.js';
import { client, stackStorage, startStack, type TestStack } from '../support/stack.js';

const JOBS = 1000;
const WORKERS = 2;
const MAX_KILLS = 12;
const SEED = 20261125;

let stack: TestStack;
let api: ReturnType<typeof client>;
let observer: Redis;
let store: RedisJobRepository;
let events: RedisJobEvents;
const workers: ChildProcess[] = [];
const workerEnv = () => ({
  ...stack.env,
  WORKER_CONCURRENCY: '1',
  WORKER_LOCK_MS: '2000',
  WORKER_STALLED_INTERVAL_MS: '1000',
});

beforeAll(async () => {
  stack = await startStack({
    workers: 0,
    env: {
      RATE_LIMIT_PER_MINUTE: '1000000',
      CONCURRENCY_LIMIT: '1000000',
      QUEUE_MAX_WAITING: '1000000',
      QUEUE_DEADLINE_MS: '3600000',
    },
  });
  api = client(stack);
  observer = connectRedis(stack.redis.url, 'worker');
  store = new RedisJobRepository(observer, { prefix: stack.env['REDIS_PREFIX']! });
  events = new RedisJobEvents(observer, stack.env['REDIS_PREFIX']!);
});
afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map(exited));
  observer.disconnect();
  await stack.stop();
});

describe('soak', () => {
  it(`${JOBS} jobs across ${WORKERS} worker processes with random SIGKILLs: none lost, none duplicated`, async () => {
    const started = Date.now();
    for (let i = 0; i < WORKERS; i++) workers.push(spawnService('worker', workerEnv()));
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, JOBS - i) }, (_, j) =>
          api('/v1/images/generations', {
            body: { prompt: `soak ${i + j}`, aspect_ratio: '1:1', seed: i + j },
          }),
        ),
      );
      for (const r of batch) {
        expect(r.status).toBe(202);
        ids.push(String(r.json['id']));
      }
    }

    // Kill a random worker every 1.5–4 s (seeded) and start a replacement at once, until the kills run
    // out or the queue drains.
    const random = mulberry32(SEED);
    let kills = 0;
    const state = { done: false };
    const finished = () => state.done;
    const killer = (async () => {
      while (!finished() && kills < MAX_KILLS) {
        await new Promise((r) => setTimeout(r, 1500 + random() * 2500));
        if (finished()) break;
        const slot = Math.floor(random() * WORKERS);
        const victim = workers[slot]!;
        victim.kill('SIGKILL');
        await exited(victim);
        kills++;
        workers[slot] = spawnService('worker', workerEnv());
      }
    })();

    const terminal = ['succeeded', 'failed', 'moderated', 'canceled', 'expired'];
    const records = await until(
      'every job to reach a terminal state',
      async () => {
        const recs = await Promise.all(ids.map((id) => store.get(id)));
        return recs.every((r) => r !== null && terminal.includes(r.status)) ? recs : null;
      },
      400_000,
    );
    state.done = true;
    await killer;

    const byStatus: Record<string, number> = {};
    for (const r of records) byStatus[r!.status] = (byStatus[r!.status] ?? 0) + 1;
    let duplicateTerminalEvents = 0;
    let retried = 0;
    for (const r of records) {
      const completed = (await events.read(r!.id)).filter((e) => e.type === 'completed').length;
      if (completed !== 1) duplicateTerminalEvents++;
      if (r!.attempt > 1) retried++;
    }
    const objects = (await stackStorage(stack).list()).map((o) => o.key);
    const referenced = new Set(records.filter((r) => r!.image).map((r) => r!.image!.key));
    const figures = {
      jobs: JOBS,
      terminal: records.length,
      lost: JOBS - records.length,
      ...byStatus,
      worker_kills: kills,
      jobs_retried_after_a_kill: retried,
      duplicate_terminal_events: duplicateTerminalEvents,
      objects: objects.length,
      duplicated_or_orphan_objects: objects.filter((k) => !referenced.has(k)).length,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    console.log(`soak figures: ${JSON.stringify(figures)}`);
    expect(figures.lost).toBe(0);
    expect(byStatus['succeeded']).toBe(JOBS);
    expect(duplicateTerminalEvents).toBe(0);
    expect(new Set(objects).size).toBe(objects.length);
    expect(objects.length).toBe(JOBS);
    expect(figures.duplicated_or_orphan_objects).toBe(0);
    expect(kills).toBeGreaterThan(0);
  }, 480_000);
});
