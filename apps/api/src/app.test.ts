import { describe, expect, it, vi } from 'vitest';

import type { JobEvents } from '@imagegen/jobs';
import { MemoryJobRepository } from '@imagegen/jobs/testing';

import { deferred } from '../../../test/support/fakes.js';
import {
  KEY_A,
  KEY_B,
  baseUrl,
  call,
  error,
  job,
  submit,
  useApiServer,
  world,
} from '../../../test/support/api-harness.js';

/** The API in memory (fakes behind createApp): submit, read, cancel and the ops routes. */
useApiServer();

describe('POST /v1/images/generations', () => {
  it('accepts a generation: 202, its Location, and the queued job object', async () => {
    const { queue } = world();
    const a = await submit({ prompt: 'a red cube on a table', seed: 9, aspect_ratio: '1:1' });
    expect(a.status).toBe(202);
    const j = job(a);
    expect(a.headers.get('location')).toBe(`/v1/images/generations/${j.id}`);
    expect(j).toMatchObject({
      object: 'image.generation',
      status: 'queued',
      queue_position: 1,
      seed: 9,
      input: { prompt: 'a red cube on a table', aspect_ratio: '1:1', output_format: 'jpeg' },
      output: null,
      success: null,
    });
    expect(j.id).toMatch(/^gen_[A-Za-z0-9]{24}$/);
    expect(a.headers.get('x-request-id')).toMatch(/^req_/);
    expect(queue.enqueued.map((p) => p.id)).toEqual([j.id]);
  });

  it('refuses a request without a valid API key: 401 with WWW-Authenticate', async () => {
    const { jobs } = world();
    for (const key of [null, 'ig_wrong']) {
      const a = await call('POST', '/v1/images/generations', { key, body: { prompt: 'a cat' } });
      expect(a.status).toBe(401);
      expect(error(a)['code']).toBe('unauthorized');
      expect(a.headers.get('www-authenticate')).toContain('Bearer');
    }
    expect(jobs.hashes.size).toBe(0);
  });

  it('answers a bad body with the error envelope naming the field', async () => {
    world();
    const a = await submit({ prompt: 'a cat', colour: 'red' }, { headers: { 'x-request-id': 'my-req-1' } });
    expect(a.status).toBe(400);
    expect(a.body).toMatchObject({
      success: false,
      error: { code: 'invalid_request', param: 'colour' },
      request_id: 'my-req-1',
    });
    const b = await submit({ prompt: 'a cat', aspect_ratio: 'wide' });
    expect(b.status).toBe(400);
    expect(error(b)).toMatchObject({ code: 'invalid_request', param: 'aspect_ratio' });
  });

  it('refuses a body that is not JSON, and one that is not labelled as JSON', async () => {
    world();
    const bad = await fetch(`${baseUrl()}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: '{"prompt":',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    const text = await fetch(`${baseUrl()}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'text/plain' },
      body: '{"prompt":"a cat"}',
    });
    expect(text.status).toBe(415);
  });

  it('refuses a prompt against the content policy: 400 with its category, and no job', async () => {
    const { jobs } = world();
    const a = await submit({ prompt: 'decapitated head on a spike' });
    expect(a.status).toBe(400);
    expect(error(a)).toMatchObject({
      code: 'content_policy_violation',
      param: 'prompt',
      category: 'violence',
    });
    expect(jobs.hashes.size).toBe(0);
  });

  it('replays a repeated Idempotency-Key and refuses it with another body', async () => {
    const { queue } = world();
    const headers = { 'idempotency-key': 'order-17' };
    const first = await submit({ prompt: 'a cat', seed: 1 }, { headers });
    const again = await submit({ prompt: 'a cat', seed: 1 }, { headers });
    expect(again.status).toBe(202);
    expect(job(again).id).toBe(job(first).id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(queue.enqueued).toHaveLength(1);
    const other = await submit({ prompt: 'a dog', seed: 1 }, { headers });
    expect(other.status).toBe(409);
    expect(error(other)).toMatchObject({ code: 'idempotency_conflict', param: 'Idempotency-Key' });
  });

  it('refuses a key over its concurrency limit: 429, Retry-After 5', async () => {
    world({ CONCURRENCY_LIMIT: 1 });
    expect((await submit({ prompt: 'a cat' })).status).toBe(202);
    const a = await submit({ prompt: 'a cat' });
    expect(a.status).toBe(429);
    expect(error(a)['code']).toBe('concurrency_limit_exceeded');
    expect(a.headers.get('retry-after')).toBe('5');
    expect((await submit({ prompt: 'a cat' }, { key: KEY_B })).status).toBe(202);
  });

  it('refuses when the queue is full: 503 queue_full, Retry-After 30', async () => {
    world({ QUEUE_MAX_WAITING: 1 });
    expect((await submit({ prompt: 'a cat' })).status).toBe(202);
    const a = await submit({ prompt: 'a cat' }, { key: KEY_B });
    expect(a.status).toBe(503);
    expect(error(a)['code']).toBe('queue_full');
    expect(a.headers.get('retry-after')).toBe('30');
  });

  it('rate-limits writes per key with RateLimit headers and a 429 once the bucket is empty', async () => {
    world({ RATE_LIMIT_PER_MINUTE: 2 });
    const first = await submit({ prompt: 'a cat' });
    expect(first.headers.get('ratelimit-limit')).toBe('2');
    expect(first.headers.get('ratelimit-remaining')).toBe('1');
    await submit({ prompt: 'a cat' });
    const a = await submit({ prompt: 'a cat' });
    expect(a.status).toBe(429);
    expect(error(a)['code']).toBe('rate_limited');
    expect(a.headers.get('ratelimit-remaining')).toBe('0');
    expect(a.headers.get('ratelimit-reset')).toBe('30');
    expect(a.headers.get('retry-after')).toBe('30');
    // Another key has its own bucket.
    expect((await submit({ prompt: 'a cat' }, { key: KEY_B })).status).toBe(202);
  });

  it('accepts the job even when the queue is down; the enqueue intent stays for the dispatcher', async () => {
    const { jobs, queue } = world();
    queue.mode = new Error('connection refused');
    const a = await submit({ prompt: 'a cat' });
    expect(a.status).toBe(202);
    expect([...jobs.intents.keys()]).toEqual([job(a).id]);
  });

  it('answers 200 with the image when the job finishes within Prefer: wait', async () => {
    const { jobs, queue } = world();
    queue.enqueue = async (p) => {
      await jobs.start(p.id, 1, 'host:1');
      setImmediate(() => {
        void jobs.finish(p.id, p.keyId, 'succeeded', {
          image: { key: p.objectKey, bytes: 10, width: 64, height: 64, format: 'jpeg', revised_prompt: null },
        });
      });
    };
    const a = await submit({ prompt: 'a cat' }, { headers: { prefer: 'respond-async, wait=10' } });
    expect(a.status).toBe(200);
    expect(a.headers.get('preference-applied')).toBe('wait=10');
    expect(job(a)).toMatchObject({
      status: 'succeeded',
      success: true,
      output: { width: 64, expired: false },
    });
    expect(job(a).image_url).toMatch(/^https:\/\/images\.test\/images\/obj1\.jpg\?until=\d+$/);
  });
});

describe('GET /v1/images/generations/{id}', () => {
  it("shows a key its own job and answers 404 for another key's", async () => {
    world();
    const id = job(await submit({ prompt: 'a cat' })).id;
    const own = await call('GET', `/v1/images/generations/${id}`);
    expect(own.status).toBe(200);
    expect(job(own)).toMatchObject({ id, status: 'queued' });
    const other = await call('GET', `/v1/images/generations/${id}`, { key: KEY_B });
    expect(other.status).toBe(404);
    expect(error(other)['code']).toBe('not_found');
    expect((await call('GET', '/v1/images/generations/gen_nope')).status).toBe(404);
  });

  it('answers a waiting read at once when the process starts shutting down', async () => {
    const shutdown = new AbortController();
    const listening = deferred();
    const jobs = new MemoryJobRepository();
    const events: JobEvents = {
      read: (id, after) => jobs.read(id, after),
      listen: (id, l) => {
        listening.resolve();
        return jobs.listen(id, l);
      },
    };
    world({}, { jobs, events, shutdown: shutdown.signal });
    const id = job(await submit({ prompt: 'a cat' })).id;
    const answer = call('GET', `/v1/images/generations/${id}?wait=30`);
    await listening.promise;
    shutdown.abort();
    const a = await answer;
    expect(a.status).toBe(200);
    expect(job(a).status).toBe('queued');
  }, 5000);

  it('refuses a wait that is not a whole number of seconds', async () => {
    world();
    const id = job(await submit({ prompt: 'a cat' })).id;
    const a = await call('GET', `/v1/images/generations/${id}?wait=soon`);
    expect(a.status).toBe(400);
    expect(error(a)).toMatchObject({ code: 'invalid_request', param: 'wait' });
  });
});

describe('POST /v1/images/generations/{id}/cancel', () => {
  it('cancels a queued job (200), and again (200); it leaves the queue', async () => {
    const { queue } = world();
    const id = job(await submit({ prompt: 'a cat' })).id;
    const a = await call('POST', `/v1/images/generations/${id}/cancel`);
    expect(a.status).toBe(200);
    expect(job(a)).toMatchObject({ status: 'canceled', success: false });
    expect(queue.removed).toEqual([id]);
    expect((await call('POST', `/v1/images/generations/${id}/cancel`)).status).toBe(200);
  });

  it('cancels a running job once its worker stops (200)', async () => {
    const { jobs } = world();
    const id = job(await submit({ prompt: 'a cat' })).id;
    await jobs.start(id, 1, 'host:1');
    const stop = jobs.requestCancel.bind(jobs);
    jobs.requestCancel = async (jobId) => {
      const status = await stop(jobId);
      setImmediate(() => void jobs.finish(jobId, 'keya', 'canceled', {}));
      return status;
    };
    const a = await call('POST', `/v1/images/generations/${id}/cancel`);
    expect(a.status).toBe(200);
    expect(job(a).status).toBe('canceled');
  });

  it('refuses to cancel a job that already succeeded: 409 conflict', async () => {
    const { jobs } = world();
    const id = job(await submit({ prompt: 'a cat' })).id;
    await jobs.start(id, 1, 'host:1');
    await jobs.finish(id, 'keya', 'succeeded', {});
    const a = await call('POST', `/v1/images/generations/${id}/cancel`);
    expect(a.status).toBe(409);
    expect(error(a)['code']).toBe('conflict');
  });

  it("answers 404 to a cancel of another key's job, leaving it queued", async () => {
    const { jobs } = world();
    const id = job(await submit({ prompt: 'a cat' })).id;
    expect((await call('POST', `/v1/images/generations/${id}/cancel`, { key: KEY_B })).status).toBe(404);
    expect((await jobs.get(id))!.status).toBe('queued');
  });
});

describe('operations', () => {
  it('reports not ready while the object store does not answer (readiness is checked at most once a second)', async () => {
    const { storage } = world();
    expect((await call('GET', '/readyz', { key: null })).status).toBe(200);
    storage.healthy = false;
    // Within the second the cached answer stands; after it the store is asked again.
    expect((await call('GET', '/readyz', { key: null })).status).toBe(200);
    vi.setSystemTime(Date.now() + 1000);
    const a = await call('GET', '/readyz', { key: null });
    vi.useRealTimers();
    expect(a.status).toBe(503);
    expect(a.body).toMatchObject({ status: 'not_ready', redis: true, storage: false });
  });

  it('answers an unknown path with the error envelope', async () => {
    world();
    const a = await call('GET', '/v2/nothing');
    expect(a.status).toBe(404);
    expect(error(a)['code']).toBe('not_found');
  });
});
