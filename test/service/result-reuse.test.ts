import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { client, stackStorage, startStack, type TestStack } from '../support/stack.js';

/**
 * Result reuse (api.md "Caching", issue 16) on the real stack: redis-server, the S3 endpoint, the API and
 * in-process workers. The queue is held still by running without a worker where a test needs a job to stay
 * unfinished; the model registration the workers leave behind keeps requests cacheable meanwhile.
 */
let stack: TestStack;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  stack = await startStack({ env: { PUBLIC_BASE_URL: 'http://127.0.0.1' } });
  api = client(stack);
});
afterAll(() => stack.stop());

interface JobJson {
  id: string;
  status: string;
  cached: boolean;
  started_at: string | null;
  attempt: number;
  timings_ms: Record<string, number>;
  output: { url: string; url_expires_at: string; bytes: number } | null;
}

const submit = async (body: object, headers: Record<string, string> = {}, key?: string) =>
  api('/v1/images/generations', { body, headers, ...(key ? { key } : {}) });

async function finished(id: string, key?: string): Promise<JobJson> {
  const r = await api(`/v1/images/generations/${id}?wait=30`, key ? { key } : {});
  expect(r.status).toBe(200);
  return r.json as unknown as JobJson;
}

const download = async (j: JobJson) => Buffer.from(await (await fetch(j.output!.url)).arrayBuffer());

/** The API's result-reuse counters, by outcome. */
async function counters(): Promise<Record<string, number>> {
  const text = await (await fetch(`${stack.base}/metrics`)).text();
  const out: Record<string, number> = { hit: 0, attach: 0, miss: 0 };
  for (const m of text.matchAll(/^imagegen_result_cache_requests_total\{[^}]*outcome="(\w+)"[^}]*\} (\d+)/gm))
    out[m[1]!] = Number(m[2]);
  return out;
}

/** Stops every worker: what is submitted now stays queued (their model registrations stay for minutes). */
async function stopWorkers() {
  await Promise.all(stack.workers.map((w) => w.close()));
  stack.workers.length = 0;
}

describe('result reuse', () => {
  it('answers an identical seeded request from a copy of the alive result, with its own object', async () => {
    const body = { prompt: 'a red kite', aspect_ratio: '1:1', seed: 4242, output_format: 'png' };
    const before = await counters();
    const first = await finished(String((await submit(body)).json['id']));
    expect(first).toMatchObject({ status: 'succeeded', cached: false });
    // Same key, same parameters (in another order): completed at once, 200, from a copy.
    const r = await submit({ output_format: 'png', seed: 4242, aspect_ratio: '1:1', prompt: 'a red kite' });
    expect(r.status).toBe(200);
    const hit = r.json as unknown as JobJson;
    expect(hit).toMatchObject({ status: 'succeeded', cached: true, started_at: null, attempt: 0 });
    expect(Object.keys(hit.timings_ms)).toEqual(['copy']);
    expect(hit.output!.url).not.toBe(first.output!.url);
    expect(new URL(hit.output!.url).pathname).not.toBe(new URL(first.output!.url).pathname);
    expect(Date.parse(hit.output!.url_expires_at)).toBeGreaterThan(Date.parse(first.output!.url_expires_at));
    expect((await download(hit)).equals(await download(first))).toBe(true);
    // Two objects: deleting the source's leaves the copy readable.
    await stackStorage(stack).delete([new URL(first.output!.url).pathname.split('/').slice(2).join('/')]);
    expect((await fetch(first.output!.url)).status).toBe(404);
    expect((await fetch(hit.output!.url)).status).toBe(200);
    const after = await counters();
    expect(after['hit']! - before['hit']!).toBe(1);
    expect(after['miss']! - before['miss']!).toBe(1);
  });

  it('generates when the alive result’s object cannot be copied', async () => {
    const body = { prompt: 'a grey stone', aspect_ratio: '1:1', seed: 515 };
    const first = await finished(String((await submit(body)).json['id']));
    await stackStorage(stack).delete([new URL(first.output!.url).pathname.split('/').slice(2).join('/')]);
    const r = await submit(body);
    expect(r.status).toBe(202);
    const again = await finished(String(r.json['id']));
    expect(again).toMatchObject({ status: 'succeeded', cached: false, attempt: 1 });
    expect(again.timings_ms).toHaveProperty('generate');
  });

  it('never caches across keys, without a seed, or against Cache-Control', async () => {
    const body = { prompt: 'a blue boat', aspect_ratio: '1:1', seed: 77 };
    const mine = await finished(String((await submit(body)).json['id']));
    const other = (await stack.api.apiKeys.create('other')).secret;
    const theirs = await finished(String((await submit(body, {}, other)).json['id']), other);
    expect(theirs).toMatchObject({ status: 'succeeded', cached: false, attempt: 1 });
    // no-cache generates anew…
    const fresh = await finished(String((await submit(body, { 'cache-control': 'no-cache' })).json['id']));
    expect(fresh).toMatchObject({ cached: false, attempt: 1 });
    expect((await download(fresh)).equals(await download(mine))).toBe(true);
    // …and no-store too; without a seed nothing is cached.
    const unstored = await finished(String((await submit(body, { 'cache-control': 'no-store' })).json['id']));
    expect(unstored).toMatchObject({ cached: false, attempt: 1 });
    const unseeded = { prompt: 'a blue boat', aspect_ratio: '1:1' };
    await finished(String((await submit(unseeded)).json['id']));
    expect((await submit(unseeded)).status).toBe(202);
    // The key's own identical request is still answered from its (fresh) result.
    expect((await submit(body)).json).toMatchObject({ cached: true });
  });

  it('attaches an identical request to the running one: one generation, two jobs, two objects', async () => {
    await stopWorkers();
    const body = { prompt: 'a yellow moon', aspect_ratio: '16:9', seed: 31 };
    const before = await counters();
    const a = String((await submit(body)).json['id']);
    const attached = await submit(body);
    expect(attached.status).toBe(202);
    expect(attached.json).toMatchObject({ status: 'queued', queue_position: null, cached: false });
    const b = String(attached.json['id']);
    // Its event stream ends with its own terminal event.
    const events = fetch(`${stack.base}/v1/images/generations/${b}/events`, {
      headers: { authorization: `Bearer ${stack.key}` },
    }).then((res) => res.text());
    await stack.addWorker();
    const [ja, jb] = [await finished(a), await finished(b)];
    expect(ja).toMatchObject({ status: 'succeeded', cached: false, attempt: 1 });
    expect(jb).toMatchObject({ status: 'succeeded', cached: true, attempt: 0, started_at: null });
    expect(jb.output!.url).not.toBe(ja.output!.url);
    expect((await download(jb)).equals(await download(ja))).toBe(true);
    expect(await events).toMatch(/event: completed/);
    const after = await counters();
    expect(after['attach']! - before['attach']!).toBe(1);
    expect(after['miss']! - before['miss']!).toBe(1);
  });

  it('runs an attached request on its own when the job it waited for is canceled', async () => {
    await stopWorkers();
    const body = { prompt: 'a white sail', aspect_ratio: '1:1', seed: 8 };
    const a = String((await submit(body)).json['id']);
    const b = String((await submit(body)).json['id']);
    expect((await api(`/v1/images/generations/${b}`)).json['queue_position']).toBeNull();
    expect((await api(`/v1/images/generations/${a}/cancel`, { method: 'POST' })).status).toBe(200);
    // Released into the queue by the cancel itself.
    expect((await api(`/v1/images/generations/${b}`)).json).toMatchObject({
      status: 'queued',
      queue_position: 1,
    });
    await stack.addWorker();
    expect(await finished(b)).toMatchObject({ status: 'succeeded', cached: false, attempt: 1 });
    expect((await finished(a)).status).toBe('canceled');
  });

  it('reuses results through the OpenAI adapter only for a seed the client chose', async () => {
    if (stack.workers.length === 0) await stack.addWorker();
    const openai = new OpenAI({ apiKey: stack.key, baseURL: `${stack.base}/openai/v1`, maxRetries: 0 });
    const ask = (seed?: number) =>
      openai.images.generate({
        prompt: 'a green hill',
        size: '1024x1024',
        response_format: 'url',
        ...(seed === undefined ? {} : ({ seed } as object)),
      });
    const before = await counters();
    await ask(5);
    await ask(5);
    await ask();
    const after = await counters();
    expect(after['miss']! - before['miss']!).toBe(1);
    expect(after['hit']! - before['hit']!).toBe(1);
  });
});
