import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ConnectionError,
  ImageGen,
  RateLimitError,
  ServiceUnavailableError,
  type ImageGenOptions,
  type RetryInfo,
} from '@imagegen/client';

import { freePort } from '../support/redis.js';
import { startStack, type TestStack } from '../support/stack.js';
import { startLossyProxy } from './lossy-proxy.js';

// No workers: every submitted job stays queued, so the limits are reached on purpose. Tiny limits: 60
// submits and cancels a minute per key (a token a second), one unfinished job per key, two waiting jobs.
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({
    workers: 0,
    env: { RATE_LIMIT_PER_MINUTE: '60', CONCURRENCY_LIMIT: '1', QUEUE_MAX_WAITING: '2' },
  });
});
afterAll(() => stack.stop());

/** A client of its own API key (limits are per key), recording its retries. */
async function keyClient(options: ImageGenOptions = {}) {
  const { secret } = await stack.api.apiKeys.create('retries');
  const retries: RetryInfo[] = [];
  const client = new ImageGen({
    apiKey: secret,
    baseURL: stack.base,
    ...options,
    onRetry: (info) => {
      retries.push(info);
      options.onRetry?.(info);
    },
  });
  return { client, retries, secret };
}

const prompt = { prompt: 'A red circle', aspect_ratio: '1:1' as const };

describe('@imagegen/client retries', () => {
  it('throws RateLimitError (429 rate_limited, Retry-After) once retries are spent', async () => {
    const { client } = await keyClient({ maxRetries: 0 });
    // 70 writes at once against a burst of 60 (cancels of an unknown id take a token too).
    const answers = await Promise.all(
      Array.from({ length: 70 }, () => client.cancel('gen_unknown').catch((e: unknown) => e)),
    );
    const limited = answers.filter((e) => e instanceof RateLimitError);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expect(limited[0]).toMatchObject({ code: 'rate_limited', status: 429, retryAfterMs: 1000 });
    expect((limited[0] as RateLimitError).requestId).toMatch(/^req_/);
    expect(
      answers
        .filter((e) => !(e instanceof RateLimitError))
        .every((e) => (e as { code?: string }).code === 'not_found'),
    ).toBe(true);
  });

  it('waits out a 429 for exactly the Retry-After the server gave, then submits once', async () => {
    let freed: Promise<unknown> | undefined;
    const { client, retries } = await keyClient({
      // The key's one slot frees up while the client waits.
      onRetry: () => {
        freed ??= client.cancel(first.id);
      },
    });
    const first = await client.submit(prompt);
    const sentAt = Date.now();
    const second = await client.submit({ ...prompt, seed: 2 });
    await freed;
    expect(retries.map((r) => [r.error.code, r.error.status, r.delayMs])).toEqual([
      ['concurrency_limit_exceeded', 429, 5000],
    ]);
    expect(retries[0]!.error).toBeInstanceOf(RateLimitError);
    // Honoured, not guessed: the retry went out no earlier than the server asked.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(5000);
    expect(second).toMatchObject({ status: 'queued', seed: 2 });
    const mine = await client.listPage();
    expect(mine.data.map((j) => [j.id, j.status])).toEqual([
      [second.id, 'queued'],
      [first.id, 'canceled'],
    ]);
    await client.cancel(second.id);
  });

  it('retries a 503 queue_full (Retry-After capped by maxRetryDelayMs) and the retried submit makes one job', async () => {
    const [a, b] = [await keyClient(), await keyClient()];
    const blocker = await a.client.submit(prompt);
    const other = await b.client.submit(prompt);
    let freed: Promise<unknown> | undefined;
    const { client, retries } = await keyClient({
      maxRetryDelayMs: 200,
      // The queue frees up while the client backs off.
      onRetry: () => {
        freed ??= a.client.cancel(blocker.id);
      },
    });
    const job = await client.submit(prompt, { idempotencyKey: 'queue-full-1' });
    await freed;
    expect(retries[0]).toMatchObject({
      delayMs: 200,
      error: { code: 'queue_full', status: 503, retryAfterMs: 30_000 },
    });
    expect(retries[0]!.error).toBeInstanceOf(ServiceUnavailableError);
    expect(job.status).toBe('queued');
    expect((await client.listPage()).data.map((j) => j.id)).toEqual([job.id]);
    await Promise.all([client.cancel(job.id), b.client.cancel(other.id)]);
  });

  it('a submit whose answer was lost is retried with the same Idempotency-Key: one job, not two', async () => {
    const proxy = await startLossyProxy({ port: stack.api.port });
    try {
      const { secret } = await stack.api.apiKeys.create('lossy');
      const retries: RetryInfo[] = [];
      const client = new ImageGen({
        apiKey: secret,
        baseURL: proxy.base,
        retryBaseDelayMs: 10,
        onRetry: (r) => retries.push(r),
      });
      proxy.loseNextAnswer();
      const job = await client.submit({ ...prompt, seed: 5 });
      expect(proxy.lost()).toBe(1);
      expect(retries).toHaveLength(1);
      expect(retries[0]!.error).toBeInstanceOf(ConnectionError);
      const all = await client.listPage({ limit: 100 });
      expect(all.data.map((j) => j.id)).toEqual([job.id]);
      expect(job.seed).toBe(5);
      await client.cancel(job.id);
    } finally {
      await proxy.close();
    }
  });

  it('gives up on an unreachable service after its bounded retries with a ConnectionError', async () => {
    const retries: RetryInfo[] = [];
    const client = new ImageGen({
      apiKey: stack.key,
      baseURL: `http://127.0.0.1:${await freePort()}`,
      maxRetries: 2,
      retryBaseDelayMs: 10,
      onRetry: (r) => retries.push(r),
    });
    const e = await client.get('gen_x').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e).toMatchObject({ code: 'connection_error' });
    expect((e as ConnectionError).message).toContain('ECONNREFUSED');
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
  });
});
