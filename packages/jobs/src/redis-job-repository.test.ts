import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { NewJobRecord, WebhookEventKind } from '@imagegen/contracts';

import { startRedis, type RedisServer } from '../../../test/support/redis.js';
import { COMMANDS, type CommandName } from './commands.js';
import { RedisJobEvents } from './job-events.js';
import { Keys, keySlot, taggedPrefix } from './keys.js';
import { connectRedis, type Redis } from './redis.js';
import { RedisJobRepository } from './redis-job-repository.js';
import { fairOrderContract } from './testing/fair-order.contract.js';
import { jobRepositoryContract } from './testing/job-repository.contract.js';
import { resultReuseContract } from './testing/result-reuse.contract.js';

let server: RedisServer;
let redis: Redis;
let subscriber: Redis;
let events: RedisJobEvents;
let store: RedisJobRepository;
/** Keys of every command call, by command. */
const calls = new Map<CommandName, string[][]>();
const prefix = `t-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'worker');
  subscriber = connectRedis(server.url, 'subscriber');
  store = new RedisJobRepository(redis, {
    prefix,
    observe: (name, keys) => calls.set(name, [...(calls.get(name) ?? []), [...keys]]),
  });
  events = await RedisJobEvents.start(redis, subscriber, prefix);
});
afterAll(async () => {
  events.close();
  redis.disconnect();
  await server.stop();
});

describe('RedisJobRepository', () => {
  jobRepositoryContract(() => ({
    jobs: store,
    events,
    purge: async (id: string) => {
      await redis.del(store.keys.job(id), store.keys.events(id));
    },
  }));
  resultReuseContract((hooks) => {
    const own = new RedisJobRepository(redis, { prefix, ...hooks });
    return {
      jobs: own,
      events,
      purge: async (id: string) => {
        await redis.del(own.keys.job(id), own.keys.events(id));
      },
    };
  });
  // Each fair-order test on a prefix of its own (an empty waiting set); key settings as the admin sets them.
  fairOrderContract(async () => {
    const own = new RedisJobRepository(redis, { prefix: `f-${randomUUID().slice(0, 8)}` });
    return {
      jobs: own,
      events: await RedisJobEvents.start(redis, subscriber, own.keys.prefix),
      purge: async (id: string) => {
        await redis.del(own.keys.job(id), own.keys.events(id));
      },
      setKey: async (keyId, settings) => {
        // The record must exist (the admin API only changes existing keys); no secret is needed here.
        await redis.hset(own.keys.apiKey(keyId), 'hash', 'x');
        if (settings.weight !== undefined)
          await redis.hset(own.keys.apiKey(keyId), 'weight', settings.weight);
        if (settings.concurrencyPolicy !== undefined)
          await redis.hset(own.keys.apiKey(keyId), 'concurrency_policy', settings.concurrencyPolicy);
      },
    };
  });
});

const newJob = (keyId = 'k1', webhookEvents: WebhookEventKind[] | null = null): NewJobRecord => ({
  id: `gen_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
  keyId,
  input: {
    prompt: 'a cat',
    aspect_ratio: '1:1',
    output_format: 'png',
    seed: 1,
    prompt_upsampling: false,
    safety_tolerance: 2,
  },
  metadata: {},
  objectKey: 'images/y.png',
  requestId: 'req_1',
  createdAt: Date.now(),
  deadlineAt: Date.now() + 60_000,
  webhook: webhookEvents ? { url: 'https://hooks.example/x', events: webhookEvents } : null,
  analysis: null,
  warnings: [],
});
const limits = { concurrency: 100, queueBound: 0 };

describe('keys and commands (Redis Cluster readiness)', () => {
  it('puts every key under one hash tag, given or added', () => {
    expect(taggedPrefix('imagegen')).toBe('{imagegen}');
    expect(taggedPrefix('{imagegen}')).toBe('{imagegen}');
    expect(taggedPrefix('app:{ig}')).toBe('app:{ig}');
    const k = new Keys('imagegen');
    const slot = keySlot(k.job('gen_a'));
    for (const key of [
      k.keyJobs('key'),
      k.events('gen_b'),
      k.waiting(),
      k.unfinished('key'),
      k.idempotency('key', 'd'),
      k.rate('x'),
      k.webhookOutbox(),
      k.enqueueIntents(),
      `${k.bullPrefix()}:generations:1`,
    ]) {
      expect(keySlot(key)).toBe(slot);
    }
    // The reference slot of the Redis Cluster specification.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
  });

  it('declares each Lua file’s keys, and every command the repository ran touched a single slot', async () => {
    const files = readdirSync(new URL('../lua/', import.meta.url)).filter((f) => f.endsWith('.lua'));
    expect(files.sort()).toEqual(
      Object.values(COMMANDS)
        .map((c) => `${c.file}.lua`)
        .sort(),
    );
    // Run the repository's commands once more so that each is observed here whatever the test order.
    const j = newJob('slots', ['queued']);
    await store.submit(j, limits, { keyDigest: 'd', bodyDigest: 'b', ttlSeconds: 10 });
    await store.start(j.id, 1, 'w');
    await store.progress(j.id, 'generating', 1, 2, 0.5);
    await store.setRevisedPrompt(j.id, 'x');
    await store.requestCancel(j.id);
    await store.recordWebhookAttempt(j.id, {
      terminal: false,
      status: 'retrying',
      error: 'x',
      at: 1,
      deliveredAt: null,
    });
    await store.finish(j.id, j.keyId, 'canceled', {});
    // The rate limiter's and API keys' commands run in packages/access (whose tests build keys with `Keys`).
    const repositoryCommands = (Object.keys(COMMANDS) as CommandName[]).filter(
      (n) => n !== 'takeToken' && n !== 'createApiKey' && n !== 'setKeyFields',
    );
    for (const name of repositoryCommands) {
      const seen = calls.get(name) ?? [];
      expect(seen.length, `${name} ran`).toBeGreaterThan(0);
      for (const keys of seen) expect(new Set(keys.map(keySlot)).size, `${name} ${keys.join(' ')}`).toBe(1);
    }
  });

  it('refuses to run a command whose keys span slots', async () => {
    const other = new RedisJobRepository(redis, { prefix: '{a}' });
    const commands = (
      other as unknown as { commands: { run: (n: string, k: object, a: object) => Promise<unknown> } }
    ).commands;
    await expect(
      commands.run('requestCancel', { job: '{b}:job:1' }, { id: '1', channel: 'c' }),
    ).resolves.toBe('missing');
    await expect(
      commands.run(
        'finish',
        {
          job: '{a}:j',
          events: '{b}:e',
          waiting: '{a}:w',
          unfinished: '{a}:u',
          outbox: '{a}:o',
          intents: '{a}:i',
        },
        {},
      ),
    ).rejects.toThrow(/hash slot/);
  });
});

describe('records in Redis', () => {
  it('keeps a finished record and its events for the retention period', async () => {
    const j = newJob();
    await store.submit(j, limits, null);
    await store.finish(j.id, j.keyId, 'canceled', {});
    expect(await redis.ttl(store.keys.job(j.id))).toBeGreaterThan(86_000);
    expect(await redis.ttl(store.keys.events(j.id))).toBeGreaterThan(86_000);
  });

  it('bounds what one key retains: past the cap its oldest finished jobs are purged, unfinished ones stay (issue 17, finding 5)', async () => {
    const capped = new RedisJobRepository(redis, { prefix, retainedJobsPerKey: 3 });
    const keyId = `cap-${randomUUID().slice(0, 6)}`;
    const running = newJob(keyId);
    await capped.submit(running, limits, null);
    await capped.start(running.id, 1, 'w');
    const finished: string[] = [];
    for (let i = 0; i < 4; i++) {
      const j = newJob(keyId);
      await capped.submit(j, limits, null);
      await capped.finish(j.id, keyId, 'canceled', {});
      finished.push(j.id);
    }
    const last = newJob(keyId);
    await capped.submit(last, limits, null);
    // Six submitted, three retained at most: the oldest finished ones are gone, record and events; the
    // running one (the oldest of all) stays.
    const kept = (await capped.listForKey(keyId, { limit: 100 })).records.map((r) => r.id);
    expect(kept).toEqual([last.id, finished[3], finished[2], running.id]);
    for (const id of finished.slice(0, 2)) {
      expect(await capped.get(id)).toBeNull();
      expect(await redis.exists(capped.keys.events(id))).toBe(0);
    }
  });

  it('keeps only the last progress event of a finished job (issue 17, finding 5)', async () => {
    const j = newJob();
    await store.submit(j, limits, null);
    await store.start(j.id, 1, 'w');
    for (let step = 1; step <= 5; step++) await store.progress(j.id, 'generating', step, 5, step / 5);
    expect((await events.read(j.id)).filter((e) => e.type === 'progress')).toHaveLength(5);
    await store.finish(j.id, j.keyId, 'canceled', {});
    const after = await events.read(j.id);
    expect(after.map((e) => e.type)).toEqual(['queued', 'started', 'progress', 'completed']);
    expect(after[2]!.fields['step']).toBe('5');
  });

  it('keeps the last denoising step beside the last stage of a finished job, for streams that join late', async () => {
    const j = newJob();
    await store.submit(j, limits, null);
    await store.start(j.id, 1, 'w');
    for (let step = 1; step <= 4; step++) await store.progress(j.id, 'generating', step, 4, step / 5);
    await store.progress(j.id, 'upscaling', null, null, 0.9);
    await store.progress(j.id, 'storing', null, null, 0.9);
    await store.finish(j.id, j.keyId, 'succeeded', {});
    const kept = (await events.read(j.id)).filter((e) => e.type === 'progress');
    expect(kept.map((e) => [e.fields['stage'], e.fields['step']])).toEqual([
      ['generating', '4'],
      ['storing', ''],
    ]);
  });

  it('tells workers on the cancel channel when a running job is to stop', async () => {
    const j = newJob();
    await store.submit(j, limits, null);
    await store.start(j.id, 1, 'w');
    const sub = redis.duplicate();
    const heard = new Promise<string>((resolve) => sub.on('message', (_c, m: string) => resolve(m)));
    await sub.subscribe(store.keys.cancelChannel());
    expect(await store.requestCancel(j.id)).toBe('processing');
    expect(await heard).toBe(j.id);
    sub.disconnect();
  });
});

describe('webhook outbox', () => {
  const outbox = async (jobId: string) =>
    (await redis.xrange(store.keys.webhookOutbox(), '-', '+'))
      .map(([, f]) => ({ job: f[1], type: f[3], event: f[5] }))
      .filter((e) => e.job === jobId);

  it('records an intent for each subscribed event, atomically with the state change', async () => {
    const job = newJob('hooks', ['queued', 'completed']);
    await store.submit(job, limits, null);
    expect((await outbox(job.id)).map((e) => e.type)).toEqual(['queued']);
    await store.start(job.id, 1, 'w');
    await store.progress(job.id, 'generating', 1, 10, 0.1);
    expect((await outbox(job.id)).map((e) => e.type)).toEqual(['queued']);
    await store.finish(job.id, 'hooks', 'succeeded', {});
    await store.finish(job.id, 'hooks', 'failed', {});
    const entries = await outbox(job.id);
    expect(entries.map((e) => e.type)).toEqual(['queued', 'completed']);
    // Each intent names the job event it announces.
    const all = await events.read(job.id);
    expect(entries.map((e) => e.event)).toEqual(
      all.filter((e) => e.type === 'queued' || e.type === 'completed').map((e) => e.id),
    );
    expect((await store.get(job.id))!.webhookState).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('throttles progress intents to one a second, always keeping the last step', async () => {
    const job = newJob('hooks2', ['progress']);
    await store.submit(job, limits, null);
    await store.start(job.id, 1, 'w');
    for (let step = 1; step <= 5; step++) await store.progress(job.id, 'generating', step, 5, step / 5);
    expect((await outbox(job.id)).map((e) => e.type)).toEqual(['progress', 'progress']);
  });

  it('writes nothing for a job without a webhook', async () => {
    const job = newJob('plain');
    await store.submit(job, limits, null);
    await store.start(job.id, 1, 'w');
    await store.finish(job.id, 'plain', 'succeeded', {});
    expect(await outbox(job.id)).toEqual([]);
  });

  it('logs delivery attempts on the job, the terminal event’s outcome winning, never on a purged job', async () => {
    const job = newJob('hooks3', ['started', 'completed']);
    await store.submit(job, limits, null);
    await store.recordWebhookAttempt(job.id, {
      terminal: true,
      status: 'delivered',
      error: null,
      at: 5,
      deliveredAt: 5,
    });
    await store.recordWebhookAttempt(job.id, {
      terminal: false,
      status: 'retrying',
      error: 'the receiver answered 500',
      at: 6,
      deliveredAt: null,
    });
    expect((await store.get(job.id))!.webhookState).toEqual({
      status: 'delivered',
      attempts: 2,
      lastError: null,
      lastAttemptAt: 5,
      deliveredAt: 5,
    });
    await redis.del(store.keys.job(job.id));
    await store.recordWebhookAttempt(job.id, {
      terminal: true,
      status: 'failed',
      error: 'x',
      at: 7,
      deliveredAt: null,
    });
    expect(await redis.exists(store.keys.job(job.id))).toBe(0);
  });
});
