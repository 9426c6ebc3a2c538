import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ASPECT_RATIOS, readPngText } from '@imagegen/engine';
import { connectRedis, waitReady } from '@imagegen/jobs';

import { until } from '../support/processes.js';
import { client, startStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  stack = await startStack();
  api = client(stack);
});
afterAll(() => stack.stop());

type JobJson = {
  id: string;
  status: string;
  output: { url: string; width: number; height: number; format: string; bytes: number } | null;
  seed: number;
  image_url: string | null;
  success: boolean | null;
  input: Record<string, unknown>;
};

const download = async (j: JobJson) => Buffer.from(await (await fetch(j.output!.url)).arrayBuffer());

async function finished(id: string): Promise<JobJson> {
  const r = await api(`/v1/images/generations/${id}?wait=30`);
  expect(r.status).toBe(200);
  return r.json as unknown as JobJson;
}

describe('submit → poll → download', () => {
  it('delivers every aspect ratio at its exact size and format', async () => {
    const ids: [string, string, string][] = [];
    for (const [i, ar] of Object.keys(ASPECT_RATIOS).entries()) {
      const format = i % 2 === 0 ? 'png' : 'jpeg';
      const r = await api('/v1/images/generations', {
        body: { prompt: 'a red circle', aspect_ratio: ar, output_format: format, seed: 7 },
      });
      expect(r.status).toBe(202);
      expect(r.headers.get('location')).toBe(`/v1/images/generations/${String(r.json['id'])}`);
      ids.push([String(r.json['id']), ar, format]);
    }
    for (const [id, ar, format] of ids) {
      const job = await finished(id);
      expect(job.status).toBe('succeeded');
      expect(job.success).toBe(true);
      const img = Buffer.from(await (await fetch(job.output!.url)).arrayBuffer());
      const meta = await sharp(img).metadata();
      expect({ ar, format: meta.format, width: meta.width, height: meta.height }).toEqual({
        ar,
        format,
        ...ASPECT_RATIOS[ar as keyof typeof ASPECT_RATIOS],
      });
      expect(job.output!.bytes).toBe(img.length);
      expect(job.image_url).toBe(job.output!.url);
    }
  });

  it('defaults to 16:9 JPEG with a random seed that it returns', async () => {
    const r = await api('/v1/images/generations', { body: { prompt: 'a blue star' } });
    const p = await api('/v1/images/generations', { body: { prompt: 'a blue star', output_format: 'png' } });
    const job = await finished(String(r.json['id']));
    expect(job.input).toMatchObject({
      aspect_ratio: '16:9',
      output_format: 'jpeg',
      safety_tolerance: 2,
      prompt_upsampling: false,
    });
    expect([job.output!.width, job.output!.height, job.output!.format]).toEqual([1920, 1080, 'jpeg']);
    // A seed is drawn per job: two jobs without one get different seeds (equal by chance with p = 2⁻³²).
    const png = await finished(String(p.json['id']));
    expect(Number.isInteger(png.seed)).toBe(true);
    expect(png.seed).not.toBe(job.seed);
    // The returned seed is the one the image was made with: the PNG's parameters carry it, and asking
    // for that seed explicitly reproduces the same file.
    const image = await download(png);
    const text = readPngText(image);
    expect(JSON.parse(text['imagegen']!)).toMatchObject({ prompt: 'a blue star', seed: png.seed });
    expect(text['parameters']).toContain(`Seed: ${png.seed},`);
    const again = await api('/v1/images/generations', {
      body: { prompt: 'a blue star', output_format: 'png', seed: png.seed },
    });
    const replay = await finished(String(again.json['id']));
    expect(replay.seed).toBe(png.seed);
    expect((await download(replay)).equals(image)).toBe(true);
  });

  it('reproduces the same image for the same seed', async () => {
    const body = { prompt: 'a green square', aspect_ratio: '1:1', seed: 99, output_format: 'png' };
    const a = await finished(String((await api('/v1/images/generations', { body })).json['id']));
    // no-cache: generated again, not answered from a's result (result reuse).
    const again = await api('/v1/images/generations', { body, headers: { 'cache-control': 'no-cache' } });
    const b = await finished(String(again.json['id']));
    expect(b).toMatchObject({ cached: false, attempt: 1 });
    const c = await finished(
      String((await api('/v1/images/generations', { body: { ...body, seed: 100 } })).json['id']),
    );
    expect((await download(a)).equals(await download(b))).toBe(true);
    expect((await download(a)).equals(await download(c))).toBe(false);
  });

  it('answers 200 with the finished job under Prefer: wait, 202 without', async () => {
    const r = await api('/v1/images/generations', {
      body: { prompt: 'a cat', aspect_ratio: '1:1' },
      headers: { prefer: 'wait=30' },
    });
    expect(r.status).toBe(200);
    expect(r.json['status']).toBe('succeeded');
    expect(r.headers.get('preference-applied')).toBe('wait=30');
    const quick = await api('/v1/images/generations', { body: { prompt: 'a cat', aspect_ratio: '1:1' } });
    expect(quick.status).toBe(202);
    expect(quick.headers.get('preference-applied')).toBeNull();
    // Without a wait the answer is the job as submitted: not finished, no output yet.
    expect(quick.json).toMatchObject({ success: null, output: null, image_url: null });
    expect(quick.json['status']).toMatch(/^(queued|processing)$/);
    expect((await finished(String(quick.json['id']))).status).toBe('succeeded');
  });

  it('streams queued, started, progress and one terminal event in order', async () => {
    const r = await api('/v1/images/generations', { body: { prompt: 'a ring', aspect_ratio: '1:1' } });
    const res = await fetch(`${stack.base}/v1/images/generations/${String(r.json['id'])}/events`, {
      headers: { authorization: `Bearer ${stack.key}` },
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text(); // the stream ends after the terminal event
    const events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events[0]).toBe('queued');
    expect(events[1]).toBe('started');
    expect(events.at(-1)).toBe('completed');
    expect(events.filter((e) => e === 'completed')).toHaveLength(1);
    expect(events.slice(2, -1).every((e) => e === 'progress')).toBe(true);
    const last = JSON.parse(text.trim().split('\n').at(-1)!.slice(6)) as JobJson;
    expect(last.status).toBe('succeeded');
    expect(text).toMatch(/"stage":"generating","step":1,"total":4/);
  });
});

describe('validation', () => {
  it.each([
    [{ prompt: '' }, 'prompt'],
    [{ prompt: 'x'.repeat(2001) }, 'prompt'],
    [{ prompt: 'a', seed: -1 }, 'seed'],
    [{ prompt: 'a', seed: 4294967296 }, 'seed'],
    [{ prompt: 'a', safety_tolerance: 7 }, 'safety_tolerance'],
    [{ prompt: 'a', aspect_ratio: '2:1' }, 'aspect_ratio'],
    [{ prompt: 'a', unknown_field: 1 }, 'unknown_field'],
    [{ prompt: 42 }, 'prompt'],
    [{ prompt: 'a', output_format: 'webp' }, 'output_format'],
  ])('%j → 400 invalid_request naming %s', async (body, param) => {
    const r = await api('/v1/images/generations', { body });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ success: false, error: { code: 'invalid_request', param } });
    expect(typeof r.json['request_id']).toBe('string');
  });

  it('malformed JSON, a non-object body, wrong content type and an oversized body', async () => {
    expect((await api('/v1/images/generations', { body: '{"prompt": ' })).json).toMatchObject({
      error: { code: 'invalid_request', message: 'the body is not valid JSON' },
    });
    const array = await api('/v1/images/generations', { body: '[1,2]' });
    expect(array.status).toBe(400);
    expect(array.json).toMatchObject({
      success: false,
      error: { code: 'invalid_request', message: 'the body must be a JSON object' },
    });
    const text = await api('/v1/images/generations', {
      body: 'prompt=a',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    expect(text.json).toMatchObject({ success: false, error: { code: 'unsupported_media_type' } });
    expect((text.json['error'] as { message: string }).message).toContain('application/json');
    const big = await api('/v1/images/generations', {
      body: { prompt: 'a', metadata: { x: 'y'.repeat(70_000) } },
    });
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ error: { code: 'payload_too_large' } });
  });
});

describe('authentication and ownership', () => {
  it('401 without a key or with a wrong one; x-key works too', async () => {
    const none = await api('/v1/images/generations', { body: { prompt: 'a' }, key: null });
    expect(none.status).toBe(401);
    expect(none.json).toMatchObject({ error: { code: 'unauthorized' } });
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await api('/v1/images/generations', {
      body: { prompt: 'a' },
      key: 'ig_000000000000_' + 'A'.repeat(43),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ success: false, error: { code: 'unauthorized' } });
    const viaHeader = await api('/v1/images/generations', {
      body: { prompt: 'a', aspect_ratio: '1:1' },
      key: null,
      headers: { 'x-key': stack.key },
    });
    expect(viaHeader.status).toBe(202);
    // The job belongs to the key sent in x-key: readable with it, like any of its jobs.
    const own = await api(`/v1/images/generations/${String(viaHeader.json['id'])}`);
    expect(own.status).toBe(200);
    expect(own.json).toMatchObject({ id: viaHeader.json['id'], input: { prompt: 'a', aspect_ratio: '1:1' } });
  });

  it("another key's job is 404, as is an unknown id", async () => {
    const mine = await api('/v1/images/generations', { body: { prompt: 'a', aspect_ratio: '1:1' } });
    const other = await stack.api.apiKeys.create('other');
    const r = await api(`/v1/images/generations/${String(mine.json['id'])}`, { key: other.secret });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ error: { code: 'not_found' } });
    const unknown = await api('/v1/images/generations/gen_doesnotexistdoesnotexist');
    expect(unknown.status).toBe(404);
    // Indistinguishable from another key's job: the answer does not reveal that the id exists.
    expect(unknown.json['error']).toEqual(r.json['error']);
    const cancel = await api(`/v1/images/generations/${String(mine.json['id'])}/cancel`, {
      method: 'POST',
      key: other.secret,
    });
    expect(cancel.status).toBe(404);
    expect(cancel.json).toMatchObject({ error: { code: 'not_found' } });
    // The other key's attempt changed nothing: the owner's job still runs to success.
    expect((await finished(String(mine.json['id']))).status).toBe('succeeded');
  });
});

describe('idempotency', () => {
  it('replays the same job for the same key and body, 409 for a different body', async () => {
    const headers = { 'idempotency-key': 'order-1234' };
    const a = await api('/v1/images/generations', {
      body: { prompt: 'a cat', seed: 1, aspect_ratio: '1:1' },
      headers,
    });
    const b = await api('/v1/images/generations', {
      body: { aspect_ratio: '1:1', seed: 1, prompt: 'a cat' },
      headers,
    });
    expect(b.json['id']).toBe(a.json['id']);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    const c = await api('/v1/images/generations', {
      body: { prompt: 'a dog', seed: 1, aspect_ratio: '1:1' },
      headers,
    });
    expect(c.status).toBe(409);
    expect(c.json).toMatchObject({ error: { code: 'idempotency_conflict', param: 'Idempotency-Key' } });
  });
});

describe('operations endpoints', () => {
  it('healthz, readyz, metrics and the OpenAPI document', async () => {
    expect((await api('/healthz', { key: null })).json).toEqual({ status: 'ok' });
    // The workers' models as they registered them (the fixture is a directory, not a pulled model).
    expect((await api('/readyz', { key: null })).json).toEqual({
      status: 'ready',
      redis: true,
      storage: true,
      redis_memory: { used_bytes: expect.any(Number) as unknown, max_bytes: 0 },
      warnings: [],
      models: [{ name: 'tiny-random', revision: null, native: { width: 128, height: 128 } }],
    });
    const metrics = await api('/metrics', { key: null });
    expect(metrics.text).toMatch(/imagegen_redis_memory_used_bytes\{[^}]*\} [1-9]/);
    expect(metrics.text).toContain('imagegen_jobs_submitted_total');
    expect(metrics.text).toContain('imagegen_http_request_duration_seconds_bucket');
    expect(metrics.text).toMatch(/imagegen_queue_jobs\{state="waiting"/);
    const doc = await api('/openapi.json', { key: null });
    expect(Object.keys(doc.json['paths'] as object)).toContain('/v1/images/generations/{id}/events');
  });

  it('warns at /readyz when Redis is near its maxmemory, still ready (issue 17, finding 5)', async () => {
    const redis = connectRedis(stack.redis.url, 'request');
    await waitReady(redis, 10_000);
    try {
      const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
      await redis.config('SET', 'maxmemory', String(Math.round(used * 1.05)));
      const ready = await until('the memory warning', async () => {
        const r = await api('/readyz', { key: null });
        return (r.json['warnings'] as string[]).length > 0 ? r : null;
      });
      expect(ready.status).toBe(200);
      expect((ready.json['warnings'] as string[])[0]).toMatch(/^redis_memory: \d+ % of maxmemory used/);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
      redis.disconnect();
    }
  });
});
