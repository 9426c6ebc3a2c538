import { createServer, type RequestListener, type Server } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Job } from '@imagegen/contracts';
import type { JobEvents } from '@imagegen/jobs';
import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createMetrics } from '@imagegen/observability';
import { createModerator } from '@imagegen/prompt';

import {
  deferred,
  FakeApiKeys,
  FakeGenerationQueue,
  FakeRateLimiter,
  FakeStorage,
  silentLogger,
} from '../../../test/support/fakes.js';
import { createApp, type ApiDeps, type ApiSettings } from './app.js';

const KEY_A = 'ig_secret_a';
const KEY_B = 'ig_secret_b';

const SETTINGS: ApiSettings = {
  RATE_LIMIT_PER_MINUTE: 100,
  READ_RATE_LIMIT_PER_MINUTE: 100,
  CONCURRENCY_LIMIT: 5,
  QUEUE_MAX_WAITING: 0,
  QUEUE_DEADLINE_MS: 60_000,
  BODY_LIMIT_BYTES: 16_384,
  MAX_WAIT_S: 30,
};

// One loopback server for the file; each test gets a fresh application (and fresh fakes) behind it.
let current: RequestListener = (_req, res) => res.end();
let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => current(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A closed-vocabulary model, as a worker running the bundled shapes model registers it. */
const SHAPES_MODEL = {
  name: 'model',
  description: 'simple shapes on plain backgrounds',
  vocabulary: ['red', 'blue', 'circle', 'square', 'star', 'small', 'large', 'two', 'background', 'white'],
};

function world(settings: Partial<ApiSettings> = {}, over: Partial<ApiDeps> = {}) {
  const jobs = new MemoryJobRepository();
  const queue = new FakeGenerationQueue();
  const storage = new FakeStorage();
  let n = 0;
  const deps: ApiDeps = {
    settings: { ...SETTINGS, ...settings },
    jobs,
    events: jobs,
    queue,
    apiKeys: new FakeApiKeys({ [KEY_A]: 'keya', [KEY_B]: 'keyb' }),
    rateLimiter: new FakeRateLimiter(),
    modelDomains: () => Promise.resolve([SHAPES_MODEL]),
    storage,
    moderator: createModerator(null),
    webhookRefusal: () => Promise.resolve(null),
    newObjectKey: (f) => `images/obj${++n}.${f === 'jpeg' ? 'jpg' : 'png'}`,
    metrics: createMetrics('api'),
    logger: silentLogger(),
    pingRedis: () => Promise.resolve(true),
    ...over,
  };
  current = createApp(deps);
  return { jobs, queue, storage, deps };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(
  method: string,
  path: string,
  options: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? KEY_A : options.key;
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

const submit = (body: unknown, options: { key?: string; headers?: Record<string, string> } = {}) =>
  call('POST', '/v1/images/generations', { ...options, body });
const job = (a: Answer) => a.body as unknown as Job;
const error = (a: Answer) => a.body['error'] as Record<string, unknown>;

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
    const bad = await fetch(`${base}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: '{"prompt":',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    const text = await fetch(`${base}/v1/images/generations`, {
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
  it('reports not ready while the object store does not answer', async () => {
    const { storage } = world();
    expect((await call('GET', '/readyz', { key: null })).status).toBe(200);
    storage.healthy = false;
    const a = await call('GET', '/readyz', { key: null });
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

describe('GET /v1/images/generations (the key’s list)', () => {
  it('lists the key’s own jobs newest first, page by page with an opaque cursor', async () => {
    world();
    const ids: string[] = [];
    for (const prompt of ['a red circle', 'a blue square', 'two small stars']) {
      ids.push(job(await submit({ prompt })).id);
    }
    await submit({ prompt: 'another key’s job' }, { key: KEY_B });
    const first = await call('GET', '/v1/images/generations?limit=2');
    expect(first.status).toBe(200);
    expect(first.body['object']).toBe('list');
    const data = first.body['data'] as Job[];
    expect(data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(data[0]).toMatchObject({ object: 'image.generation', status: 'queued', queue_position: 3 });
    const cursor = String(first.body['next_cursor']);
    const second = await call('GET', `/v1/images/generations?limit=2&cursor=${cursor}`);
    expect((second.body['data'] as Job[]).map((j) => j.id)).toEqual([ids[0]]);
    expect(second.body['next_cursor']).toBeNull();
  });

  it('filters by status, and refuses a bad limit, status or cursor naming the parameter', async () => {
    const { jobs } = world();
    const a = job(await submit({ prompt: 'a red circle' }));
    const b = job(await submit({ prompt: 'a blue square' }));
    await jobs.finish(a.id, 'keya', 'canceled', {});
    const canceled = await call('GET', '/v1/images/generations?status=canceled,failed');
    expect((canceled.body['data'] as Job[]).map((j) => j.id)).toEqual([a.id]);
    const queued = await call('GET', '/v1/images/generations?status=queued');
    expect((queued.body['data'] as Job[]).map((j) => j.id)).toEqual([b.id]);
    expect(error(await call('GET', '/v1/images/generations?limit=0'))).toMatchObject({
      code: 'invalid_request',
      param: 'limit',
    });
    expect(error(await call('GET', '/v1/images/generations?status=done'))).toMatchObject({
      code: 'invalid_request',
      param: 'status',
    });
    expect(error(await call('GET', '/v1/images/generations?cursor=bm9wZQ'))).toMatchObject({
      code: 'invalid_request',
      param: 'cursor',
    });
    expect(error(await call('GET', '/v1/images/generations?page=2'))).toMatchObject({
      code: 'invalid_request',
      param: 'page',
    });
  });
});

describe('POST /v1/prompts/analyze', () => {
  it('analyses, lints and moderates a prompt without queueing anything', async () => {
    const { jobs } = world();
    const a = await call('POST', '/v1/prompts/analyze', {
      body: { prompt: 'two small blue stars on a white background' },
    });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({
      object: 'prompt.analysis',
      moderation: { allowed: true, category: null, safety_tolerance: 2 },
    });
    expect((a.body['analysis'] as Record<string, unknown>)['subject']).toBeTruthy();
    expect(a.body['warnings']).toEqual([]);
    expect(jobs.hashes.size).toBe(0);
  });

  it('warns outside_model_domain when the model cannot draw the prompt, on the check and on the job', async () => {
    world();
    const prompt = 'A golden retriever puppy playing in a sunny meadow';
    const a = await call('POST', '/v1/prompts/analyze', { body: { prompt } });
    const w = (a.body['warnings'] as { code: string; message: string }[]).find(
      (x) => x.code === 'outside_model_domain',
    );
    expect(w?.message).toContain('simple shapes on plain backgrounds');
    expect(w?.message).toContain('MODEL_DIR');
    const submitted = job(await submit({ prompt }));
    expect(submitted.warnings.map((x) => x.code)).toContain('outside_model_domain');
  });

  it('gives the verdict at the asked tolerance, and refuses bad input naming every bad field', async () => {
    world();
    const refused = await call('POST', '/v1/prompts/analyze', {
      body: { prompt: 'a graphic beheading with blood everywhere', safety_tolerance: 0 },
    });
    expect(refused.status).toBe(200);
    expect(refused.body['moderation']).toMatchObject({
      allowed: false,
      category: 'violence',
      safety_tolerance: 0,
    });
    const bad = await call('POST', '/v1/prompts/analyze', { body: { prompt: '', safety_tolerance: 9 } });
    expect(bad.status).toBe(400);
    expect(error(bad)['details']).toEqual([
      { param: 'prompt', message: 'prompt must not be empty' },
      { param: 'safety_tolerance', message: 'safety_tolerance must be an integer between 0 and 6' },
    ]);
  });
});

describe('methods', () => {
  it('answers a known path asked with another method 405 with Allow', async () => {
    world();
    const a = await call('DELETE', '/v1/images/generations');
    expect(a.status).toBe(405);
    expect(a.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(error(a)).toMatchObject({ code: 'method_not_allowed' });
    const b = await call('GET', '/v1/prompts/analyze');
    expect(b.status).toBe(405);
    expect(b.headers.get('allow')).toBe('POST');
    const c = await call('PUT', '/v1/images/generations/gen_x/cancel');
    expect(c.headers.get('allow')).toBe('POST');
    expect((await call('GET', '/v1/nothing')).status).toBe(404);
  });
});
