import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startRedis, type RedisServer } from '../../../test/support/redis.js';
import { ApiKeyStore } from './api-keys.js';
import { JobStore, type NewJob, type WebhookEventKind } from './job-store.js';
import { connectRedis, type Redis } from './redis.js';

let server: RedisServer;
let redis: Redis;
let store: JobStore;
beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'worker');
  store = new JobStore(redis, `t-${randomUUID().slice(0, 8)}`);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const input = {
  prompt: 'a cat',
  aspect_ratio: '1:1',
  output_format: 'png',
  seed: 1,
  prompt_upsampling: false,
  safety_tolerance: 2,
} as const;
const newJob = (keyId = 'k1', id = `gen_${randomUUID().replaceAll('-', '')}`): NewJob => ({
  id,
  keyId,
  input,
  metadata: { order: 7 },
  requestId: 'req_1',
  createdAt: Date.now(),
  deadlineAt: Date.now() + 60_000,
});
const limits = { concurrency: 3, queueBound: 0 };

describe('job records', () => {
  it('submits a queued job with its position and reads it back', async () => {
    const a = newJob('pos');
    const b = newJob('pos');
    expect(await store.submit(a, limits, null)).toMatchObject({ kind: 'created' });
    expect(await store.submit(b, limits, null)).toMatchObject({ kind: 'created' });
    const rec = await store.get(a.id);
    expect(rec).toMatchObject({
      id: a.id,
      keyId: 'pos',
      status: 'queued',
      input,
      metadata: { order: 7 },
      attempt: 0,
    });
    const pa = await store.queuePosition(a.id);
    expect(await store.queuePosition(b.id)).toBe(pa! + 1);
    expect((await store.events(a.id)).map((e) => e.type)).toEqual(['queued']);
  });

  it('enforces the per-key concurrency limit and frees a slot when a job ends', async () => {
    const jobs = [newJob('busy'), newJob('busy'), newJob('busy')];
    for (const j of jobs) expect((await store.submit(j, limits, null)).kind).toBe('created');
    expect(await store.submit(newJob('busy'), limits, null)).toEqual({ kind: 'concurrency', active: 3 });
    expect((await store.submit(newJob('other'), limits, null)).kind).toBe('created');
    await store.finish(jobs[0]!.id, 'busy', 'canceled', {});
    expect((await store.submit(newJob('busy'), limits, null)).kind).toBe('created');
  });

  it('refuses new jobs past the global queue bound', async () => {
    const waiting = await store.waitingCount();
    expect(await store.submit(newJob('bound'), { concurrency: 10, queueBound: waiting }, null)).toEqual({
      kind: 'queue_full',
    });
  });

  it('replays an idempotency key to the original job', async () => {
    const a = newJob('idem');
    const idem = { keyDigest: 'kd', bodyDigest: 'b1', ttlSeconds: 60 };
    expect((await store.submit(a, limits, idem)).kind).toBe('created');
    expect(await store.submit(newJob('idem'), limits, idem)).toEqual({
      kind: 'idempotent',
      jobId: a.id,
      bodyDigest: 'b1',
    });
    await store.unsubmit(a, 'kd');
    expect(await store.get(a.id)).toBeNull();
    expect((await store.submit(newJob('idem'), limits, idem)).kind).toBe('created');
  });

  it('reaches exactly one terminal state, whoever races for it', async () => {
    const j = newJob('race');
    await store.submit(j, limits, null);
    expect(await store.start(j.id, 1)).toBe('started');
    expect(await store.queuePosition(j.id)).toBeNull();
    await store.progress(j.id, 'generating', 2, 4, 0.5);
    expect(await store.get(j.id)).toMatchObject({
      status: 'processing',
      stage: 'generating',
      progress: 0.5,
      attempt: 1,
    });
    // A second worker (after a crash) restarts it: attempt 2.
    expect(await store.start(j.id, 2)).toBe('started');
    const image = {
      key: 'images/x.png',
      bytes: 10,
      width: 1024,
      height: 1024,
      format: 'png',
      revised_prompt: null,
    } as const;
    const results = await Promise.all([
      store.finish(j.id, 'race', 'succeeded', { image, timings: { generate: 5 } }),
      store.finish(j.id, 'race', 'failed', { error: { code: 'x', message: 'y', retryable: false } }),
      store.finish(j.id, 'race', 'canceled', {}),
    ]);
    expect(results.filter((r) => r.kind === 'done')).toHaveLength(1);
    const rec = await store.get(j.id);
    expect(rec!.status).toBe('succeeded');
    expect(rec!.image).toEqual(image);
    expect(rec!.completedAt).toBeGreaterThan(0);
    expect(await store.start(j.id, 3)).toBe('succeeded');
    expect((await store.events(j.id)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      'progress',
      'started',
      'completed',
    ]);
    expect(await redis.ttl(store.keys.job(j.id))).toBeGreaterThan(86_000);
  });

  it('cancels: a processing job is flagged and announced, a finished one reports its status', async () => {
    const j = newJob('cancel');
    await store.submit(j, limits, null);
    await store.start(j.id, 1);
    const sub = redis.duplicate();
    const heard = new Promise<string>((resolve) => sub.on('message', (_c, m: string) => resolve(m)));
    await sub.subscribe(store.keys.cancelChannel());
    expect(await store.requestCancel(j.id)).toBe('processing');
    expect(await heard).toBe(j.id);
    sub.disconnect();
    expect((await store.get(j.id))!.cancelRequested).toBe(true);
    expect(await store.start(j.id, 2)).toBe('cancel');
    await store.finish(j.id, 'cancel', 'canceled', {});
    expect(await store.requestCancel(j.id)).toBe('canceled');
    expect(await store.requestCancel('gen_missing')).toBe('missing');
  });
});

describe('token bucket', () => {
  it('allows a burst of the per-minute limit, then says when the next token comes', async () => {
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) expect((await store.takeToken('rl', 5, t0)).allowed).toBe(true);
    const denied = await store.takeToken('rl', 5, t0);
    expect(denied).toEqual({ allowed: false, remaining: 0, retryAfterMs: 12_000 });
    expect((await store.takeToken('rl', 5, t0 + 12_000)).allowed).toBe(true);
  });
});

const withHook = (job: NewJob, ...events: WebhookEventKind[]): NewJob => ({
  ...job,
  webhook: { url: 'https://hooks.example/x', events },
});

describe('webhook outbox', () => {
  const outbox = async (jobId: string) =>
    (await redis.xrange(store.keys.webhookOutbox(), '-', '+'))
      .map(([, f]) => ({ job: f[1], type: f[3], event: f[5] }))
      .filter((e) => e.job === jobId);

  it('records an intent for each subscribed event, atomically with the state change', async () => {
    const job = withHook(newJob('hooks'), 'queued', 'completed');
    await store.submit(job, limits, null);
    expect((await outbox(job.id)).map((e) => e.type)).toEqual(['queued']);
    await store.start(job.id, 1);
    await store.progress(job.id, 'generating', 1, 10, 0.1);
    expect((await outbox(job.id)).map((e) => e.type)).toEqual(['queued']);
    await store.finish(job.id, 'hooks', 'succeeded', {});
    await store.finish(job.id, 'hooks', 'failed', {});
    const entries = await outbox(job.id);
    expect(entries.map((e) => e.type)).toEqual(['queued', 'completed']);
    // Each intent names the job event it announces.
    const events = await store.events(job.id);
    expect(entries.map((e) => e.event)).toEqual(
      events.filter((e) => e.type === 'queued' || e.type === 'completed').map((e) => e.id),
    );
    const rec = await store.get(job.id);
    expect(rec!.webhookState).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('throttles progress intents to one a second, always keeping the last step', async () => {
    const job = withHook(newJob('hooks2'), 'progress');
    await store.submit(job, limits, null);
    await store.start(job.id, 1);
    for (let step = 1; step <= 5; step++) await store.progress(job.id, 'generating', step, 5, step / 5);
    expect((await outbox(job.id)).map((e) => e.type)).toEqual(['progress', 'progress']);
  });

  it('writes nothing for a job without a webhook', async () => {
    const job = newJob('plain');
    await store.submit(job, limits, null);
    await store.start(job.id, 1);
    await store.finish(job.id, 'plain', 'succeeded', {});
    expect(await outbox(job.id)).toEqual([]);
  });

  it('logs delivery attempts on the job, the terminal event’s outcome winning, never on a purged job', async () => {
    const job = withHook(newJob('hooks3'), 'started', 'completed');
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

describe('API keys', () => {
  it('stores only a hash, verifies the secret, and revocation is immediate', async () => {
    const keys = new ApiKeyStore(redis, `k-${randomUUID().slice(0, 8)}`);
    const { id, secret } = await keys.create('ci');
    expect(secret).toMatch(/^ig_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const dump = JSON.stringify(
      await redis.hgetall((keys as unknown as { keys: { apiKey: (i: string) => string } }).keys.apiKey(id)),
    );
    expect(dump).not.toContain(secret.slice(16));
    expect(await keys.verify(secret)).toBe(id);
    const tampered = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(await keys.verify(tampered)).toBeNull();
    expect(await keys.verify('nonsense')).toBeNull();
    expect((await keys.list()).map((k) => k.name)).toEqual(['ci']);
    expect(await keys.revoke(id)).toBe(true);
    expect(await keys.verify(secret)).toBeNull();
    expect(await keys.ensure(secret, 'again')).toEqual({ id });
    expect(await keys.verify(secret)).toBe(id);
  });

  it('keeps a webhook signing secret per key, rotatable with a grace period in which both sign', async () => {
    const keys = new ApiKeyStore(redis, `k-${randomUUID().slice(0, 8)}`);
    const { id, webhookSecret } = await keys.create('hooks', 1000);
    expect(webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(await keys.webhookSecrets(id, 1000)).toEqual([webhookSecret]);
    const rotated = (await keys.rotateWebhookSecret(id, 3600, 2000))!;
    expect(rotated.webhookSecret).not.toBe(webhookSecret);
    expect(rotated.previousValidUntil).toBe(2000 + 3_600_000);
    expect(await keys.webhookSecrets(id, 3000)).toEqual([rotated.webhookSecret, webhookSecret]);
    expect(await keys.webhookSecrets(id, 2000 + 3_600_001)).toEqual([rotated.webhookSecret]);
    // Without a grace period the old secret stops at once.
    const again = (await keys.rotateWebhookSecret(id, 0, 4000))!;
    expect(await keys.webhookSecrets(id, 4001)).toEqual([again.webhookSecret]);
    expect(await keys.rotateWebhookSecret('000000000000', 0)).toBeNull();
    expect(await keys.webhookSecrets('000000000000')).toEqual([]);
  });

  it('gives the bootstrap key the configured webhook secret', async () => {
    const keys = new ApiKeyStore(redis, `k-${randomUUID().slice(0, 8)}`);
    const secret = `ig_0123456789ab_${'x'.repeat(43)}`;
    const wh = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    await keys.ensure(secret, 'bootstrap', 1, wh);
    expect(await keys.webhookSecrets('0123456789ab')).toEqual([wh]);
    await expect(keys.ensure(secret, 'bootstrap', 1, 'whsec_nope')).rejects.toThrow(/whsec_/);
    // Restarting without the variable keeps the secret it has.
    await keys.ensure(secret, 'bootstrap', 2);
    expect(await keys.webhookSecrets('0123456789ab')).toEqual([wh]);
  });
});
