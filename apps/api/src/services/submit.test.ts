import { describe, expect, it } from 'vitest';

import { AppError } from '@imagegen/contracts';
import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createMetrics } from '@imagegen/observability';
import { createModerator } from '@imagegen/prompt';

import { FakeGenerationQueue, silentLogger } from '../../../../test/support/fakes.js';
import { submitGeneration, type SubmitDeps, type SubmitRequest } from './submit.js';

const NOW = Date.UTC(2025, 0, 1, 12);

function world(over: Partial<SubmitDeps> = {}) {
  const jobs = new MemoryJobRepository();
  const queue = new FakeGenerationQueue();
  let n = 0;
  const deps: SubmitDeps = {
    jobs,
    queue,
    moderator: createModerator(null),
    modelDomains: () => Promise.resolve([]),
    webhookRefusal: () => Promise.resolve(null),
    limits: { concurrency: 3, queueBound: 0, queueDeadlineMs: 60_000 },
    metrics: createMetrics('api'),
    logger: silentLogger(),
    now: () => NOW,
    newObjectKey: (f) => `images/obj${++n}.${f === 'jpeg' ? 'jpg' : 'png'}`,
    randomSeed: () => 4242,
    ...over,
  };
  const submit = (body: unknown, extra: Partial<SubmitRequest> = {}) =>
    submitGeneration(deps, { keyId: 'key1', requestId: 'req_1', body, ...extra });
  return { jobs, queue, deps, submit };
}

/** The AppError a rejected submit threw. */
async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err: unknown = await p.then(
    () => new Error('expected the submit to be refused'),
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw err;
  return err;
}

describe('submitting a generation', () => {
  it('creates a queued job with the defaults filled in and hands it to the queue', async () => {
    const { jobs, queue, submit } = world();
    const { record, replayed } = await submit({ prompt: '  a red cube on a table  ', metadata: { a: 1 } });
    expect(replayed).toBe(false);
    expect(record).toMatchObject({
      status: 'queued',
      keyId: 'key1',
      requestId: 'req_1',
      input: {
        prompt: 'a red cube on a table',
        aspect_ratio: '16:9',
        output_format: 'jpeg',
        seed: 4242,
        prompt_upsampling: false,
        safety_tolerance: 2,
      },
      metadata: { a: 1 },
      createdAt: NOW,
      deadlineAt: NOW + 60_000,
      webhook: null,
    });
    expect(queue.enqueued).toEqual([{ id: record.id, keyId: 'key1', objectKey: record.objectKey }]);
    expect(record.objectKey).toBe('images/obj1.jpg');
    // The queue has the job: nothing is left for the dispatcher to hand over.
    expect(jobs.intents.has(record.id)).toBe(false);
  });

  it('keeps a seed the client gave', async () => {
    const { submit } = world();
    const { record } = await submit({ prompt: 'a cat', seed: 123 });
    expect(record.input.seed).toBe(123);
  });

  it('draws a missing seed from the injected source, so two draws give two seeds', async () => {
    const a = await world({ randomSeed: () => 11 }).submit({ prompt: 'a cat' });
    const b = await world({ randomSeed: () => 22 }).submit({ prompt: 'a cat' });
    expect([a.record.input.seed, b.record.input.seed]).toEqual([11, 22]);
  });

  it('subscribes a webhook to the completed event unless told otherwise', async () => {
    const { submit } = world();
    const { record } = await submit({ prompt: 'a cat', webhook_url: 'https://hooks.example.com/x' });
    expect(record.webhook).toEqual({ url: 'https://hooks.example.com/x', events: ['completed'] });
    expect(record.webhookState?.status).toBe('pending');
  });

  it('still accepts the job when the queue is unreachable, leaving its enqueue intent for the dispatcher', async () => {
    const { jobs, queue, submit } = world();
    queue.mode = new Error('connection refused');
    const { record } = await submit({ prompt: 'a cat' });
    expect(record.status).toBe('queued');
    expect(await jobs.get(record.id)).not.toBeNull();
    expect(jobs.intents.has(record.id)).toBe(true);
    expect(await jobs.enqueueIntents(-60_000)).toEqual([record.id]);
  });
});

describe('validation', () => {
  it('refuses an unknown field, naming it', async () => {
    const { jobs, submit } = world();
    const e = await refusal(submit({ prompt: 'a cat', colour: 'red' }));
    expect(e).toMatchObject({ code: 'invalid_request', httpStatus: 400, param: 'colour' });
    expect(e.message).toContain('unknown field "colour"');
    expect(jobs.hashes.size).toBe(0);
  });

  it('refuses an aspect ratio that is not one of the seven', async () => {
    const { submit } = world();
    const e = await refusal(submit({ prompt: 'a cat', aspect_ratio: '5:4' }));
    expect(e).toMatchObject({ code: 'invalid_request', httpStatus: 400, param: 'aspect_ratio' });
    expect(e.message).toContain('16:9');
  });

  it('refuses an empty prompt and a body that is not an object', async () => {
    const { submit } = world();
    expect(await refusal(submit({ prompt: '   ' }))).toMatchObject({ param: 'prompt' });
    const e = await refusal(submit(['a cat']));
    expect(e).toMatchObject({ code: 'invalid_request', param: undefined });
    expect(e.message).toContain('JSON object');
  });

  it('refuses webhook_events without webhook_url', async () => {
    const { jobs, queue, submit } = world();
    const e = await refusal(submit({ prompt: 'a cat', webhook_events: ['completed'] }));
    expect(e).toMatchObject({ code: 'invalid_request', httpStatus: 400, param: 'webhook_events' });
    expect(jobs.hashes.size).toBe(0);
    expect(queue.enqueued).toEqual([]);
  });

  it('refuses a webhook URL the SSRF policy refuses, saying why', async () => {
    const { submit } = world({ webhookRefusal: () => Promise.resolve('private address') });
    const e = await refusal(submit({ prompt: 'a cat', webhook_url: 'http://10.0.0.1/hook' }));
    expect(e).toMatchObject({ code: 'invalid_request', param: 'webhook_url' });
    expect(e.message).toContain('private address');
  });

  it('refuses an Idempotency-Key longer than 255 characters', async () => {
    const { submit } = world();
    const e = await refusal(submit({ prompt: 'a cat' }, { idempotencyKey: 'k'.repeat(256) }));
    expect(e).toMatchObject({ code: 'invalid_request', param: 'Idempotency-Key' });
  });
});

describe('moderation', () => {
  it('refuses a prompt against the policy with its category, and creates nothing', async () => {
    const { jobs, queue, submit } = world();
    const e = await refusal(submit({ prompt: 'decapitated head on a spike' }));
    expect(e).toMatchObject({
      code: 'content_policy_violation',
      httpStatus: 400,
      param: 'prompt',
      extra: { category: 'violence' },
    });
    // The message names the category, never the words that matched.
    expect(e.message).not.toContain('decapitated');
    expect(jobs.hashes.size).toBe(0);
    expect(queue.enqueued).toEqual([]);
  });

  it('lets a higher safety_tolerance through what a strict one refuses', async () => {
    const { submit } = world();
    await expect(
      refusal(submit({ prompt: 'nude woman on a beach', safety_tolerance: 2 })),
    ).resolves.toMatchObject({ code: 'content_policy_violation', extra: { category: 'adult' } });
    const { record } = await submit({ prompt: 'nude woman on a beach', safety_tolerance: 5 });
    expect(record.status).toBe('queued');
  });
});

describe('idempotency', () => {
  it('answers a repeated key and body with the same job, marked replayed, enqueued once', async () => {
    const { queue, submit } = world();
    const first = await submit({ prompt: 'a cat', seed: 1, aspect_ratio: '1:1' }, { idempotencyKey: 'abc' });
    // Same body with its keys in another order.
    const again = await submit({ aspect_ratio: '1:1', seed: 1, prompt: 'a cat' }, { idempotencyKey: 'abc' });
    expect(again.replayed).toBe(true);
    expect(again.record.id).toBe(first.record.id);
    expect(queue.enqueued).toHaveLength(1);
  });

  it('refuses the same key with a different body as idempotency_conflict', async () => {
    const { jobs, submit } = world();
    await submit({ prompt: 'a cat' }, { idempotencyKey: 'abc' });
    const e = await refusal(submit({ prompt: 'a dog' }, { idempotencyKey: 'abc' }));
    expect(e).toMatchObject({ code: 'idempotency_conflict', httpStatus: 409, param: 'Idempotency-Key' });
    expect(jobs.hashes.size).toBe(1);
  });

  it('keeps keys of different API keys apart', async () => {
    const { submit } = world();
    const a = await submit({ prompt: 'a cat' }, { idempotencyKey: 'abc', keyId: 'key1' });
    const b = await submit({ prompt: 'a cat' }, { idempotencyKey: 'abc', keyId: 'key2' });
    expect(b.replayed).toBe(false);
    expect(b.record.id).not.toBe(a.record.id);
  });
});

describe('limits', () => {
  it('refuses a key with too many unfinished jobs: 429 concurrency_limit_exceeded, retry after 5 s', async () => {
    const { jobs, submit } = world({ limits: { concurrency: 2, queueBound: 0, queueDeadlineMs: 60_000 } });
    await submit({ prompt: 'a cat' });
    await submit({ prompt: 'a cat' });
    const e = await refusal(submit({ prompt: 'a cat' }));
    expect(e).toMatchObject({ code: 'concurrency_limit_exceeded', httpStatus: 429, retryAfterS: 5 });
    expect(e.message).toContain('limit 2');
    expect(jobs.hashes.size).toBe(2);
    // Another key is not affected.
    await expect(submit({ prompt: 'a cat' }, { keyId: 'key2' })).resolves.toMatchObject({ replayed: false });
  });

  it('frees a concurrency slot when a job ends', async () => {
    const { jobs, submit } = world({ limits: { concurrency: 1, queueBound: 0, queueDeadlineMs: 60_000 } });
    const { record } = await submit({ prompt: 'a cat' });
    await jobs.finish(record.id, 'key1', 'canceled', {});
    await expect(submit({ prompt: 'a cat' })).resolves.toMatchObject({ replayed: false });
  });

  it('refuses when the queue holds its bound: 503 queue_full, retry after 30 s', async () => {
    const { submit } = world({ limits: { concurrency: 10, queueBound: 2, queueDeadlineMs: 60_000 } });
    await submit({ prompt: 'a cat' }, { keyId: 'a' });
    await submit({ prompt: 'a cat' }, { keyId: 'b' });
    const e = await refusal(submit({ prompt: 'a cat' }, { keyId: 'c' }));
    expect(e).toMatchObject({ code: 'queue_full', httpStatus: 503, retryAfterS: 30 });
  });
});
