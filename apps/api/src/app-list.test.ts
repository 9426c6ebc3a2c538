import { describe, expect, it } from 'vitest';

import type { Job } from '@imagegen/contracts';

import {
  KEY_B,
  baseUrl,
  call,
  error,
  job,
  submit,
  useApiServer,
  world,
} from '../../../test/support/api-harness.js';

/** The API in memory (fakes behind createApp): the list, the prompt check and 405s. */
useApiServer();

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
    // Fair order: the other key's job (round 1) waits ahead of this key's third (round 3).
    expect(data[0]).toMatchObject({ object: 'image.generation', status: 'queued', queue_position: 4 });
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

describe('operations routes under load (issue 17, finding 7)', () => {
  it('serve /metrics only with METRICS_TOKEN when it is set', async () => {
    world({ METRICS_TOKEN: 'metrics-token-0123456789' });
    const none = await call('GET', '/metrics', { key: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect((await call('GET', '/metrics', { key: 'wrong-token-0123456789' })).status).toBe(401);
    const ok = await fetch(`${baseUrl()}/metrics`, {
      headers: { authorization: 'bearer metrics-token-0123456789' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('imagegen_http_request_duration_seconds');
  });

  it('check readiness once for a flood of probes', async () => {
    let pings = 0;
    world({}, { pingRedis: () => Promise.resolve(++pings > 0) });
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => call('GET', '/readyz', { key: null })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(pings).toBe(1);
  });

  it('limit each address on the routes that take no key: 429 with Retry-After past the budget', async () => {
    world({ OPS_RATE_LIMIT_PER_MINUTE: 5 });
    for (let i = 0; i < 5; i++) expect((await call('GET', '/healthz', { key: null })).status).toBe(200);
    const over = await call('GET', '/openapi.json', { key: null });
    expect(over.status).toBe(429);
    expect(error(over)).toMatchObject({ code: 'rate_limited' });
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Authenticated routes are not on this budget.
    expect((await call('GET', '/v1/images/generations')).status).toBe(200);
  });
});
