import { fileURLToPath } from 'node:url';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ImageGen, type JobEvent } from '@imagegen/client';
import { connectRedis, Keys, type Redis } from '@imagegen/jobs';

import { until } from '../support/processes.js';
import { client as http, startStack, type TestStack } from '../support/stack.js';

// Live previews end to end with the bundled model: the streams are opened while the jobs are still queued
// (no worker yet), so the worker knows they are watched before it starts them.
const BUNDLED = fileURLToPath(new URL('../../packages/tiny-model/model', import.meta.url));
let stack: TestStack;
let sdk: ImageGen;
let redis: Redis;
beforeAll(async () => {
  stack = await startStack({ workers: 0, env: { MODEL_DIR: BUNDLED } });
  sdk = new ImageGen({ apiKey: stack.key, baseURL: stack.base });
  redis = connectRedis(stack.env['REDIS_URL']!, 'request');
});
afterAll(async () => {
  redis.disconnect();
  await stack.stop();
});

/** Every event of a stream, collected in the background; `opened` resolves at its first event. */
function collect(events: AsyncGenerator<JobEvent>) {
  const seen: JobEvent[] = [];
  let first!: () => void;
  const opened = new Promise<void>((r) => (first = r));
  const done = (async () => {
    for await (const ev of events) {
      seen.push(ev);
      first();
    }
    return seen;
  })();
  return { opened, done };
}

/** The SSE events of a raw stream (name, id, parsed data), read to its end. */
async function rawStream(path: string): Promise<{ event: string; id: string | null; data: unknown }[]> {
  const res = await fetch(`${stack.base}${path}`, { headers: { authorization: `Bearer ${stack.key}` } });
  expect(res.status).toBe(200);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: '))
    .map((block) => {
      const field = (name: string) =>
        block
          .split('\n')
          .find((l) => l.startsWith(`${name}: `))
          ?.slice(name.length + 2) ?? null;
      return { event: field('event')!, id: field('id'), data: JSON.parse(field('data')!) as unknown };
    });
}

const previewOf = (ev: { data: unknown }) => (ev.data as { preview?: string }).preview;

describe('live previews (GET …/events?previews=1)', () => {
  it('carries JPEG previews on progress events only for the streams that ask, and stores none', async () => {
    const submit = http(stack);
    const body = { prompt: 'a red circle on a blue background', aspect_ratio: '1:1', seed: 7 };
    const a = await submit('/v1/images/generations', { body });
    const b = await submit('/v1/images/generations', { body: { ...body, seed: 8 } });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    const idA = String(a.json['id']);
    const idB = String(b.json['id']);

    // A: the SDK with previews; B: a raw stream with previews=1 and an SDK stream without.
    const withSdk = collect(sdk.events(idA, { previews: true }));
    const withoutSdk = collect(sdk.events(idB));
    const raw = rawStream(`/v1/images/generations/${idB}/events?previews=1`);
    await Promise.all([withSdk.opened, withoutSdk.opened]);
    // The raw stream says it watches before it sends its first event: wait for its mark.
    await until(
      'the raw stream to watch B',
      async () => (await redis.exists(new Keys(stack.env['REDIS_PREFIX']!).previewWatch(idB))) === 1,
      10_000,
    );
    await stack.addWorker();

    const eventsA = await withSdk.done;
    const eventsB = await withoutSdk.done;
    const rawB = await raw;
    expect(eventsA.at(-1)?.type).toBe('completed');
    expect(rawB.at(-1)?.event).toBe('completed');

    for (const [events, name] of [
      [eventsA.map((e) => ({ event: e.type, data: e.data })), 'A (SDK)'],
      [rawB, 'B (raw)'],
    ] as const) {
      const withPreview = events.filter((e) => previewOf(e) !== undefined);
      expect(withPreview.length, `${name}: at least one preview`).toBeGreaterThan(0);
      // Every preview comes before the terminal event, on a progress event of the generating stage.
      expect(events.findIndex((e) => previewOf(e) !== undefined)).toBeLessThan(events.length - 1);
      for (const e of withPreview) {
        expect(e.event).toBe('progress');
        const data = e.data as { stage: string; step: number; total: number; preview: string };
        expect(data.stage).toBe('generating');
        expect(data.step).toBeLessThan(data.total);
        const m = /^data:image\/jpeg;base64,([A-Za-z0-9+/]+=*)$/.exec(data.preview);
        expect(m, `${name}: a JPEG data URL`).not.toBeNull();
        const meta = await sharp(Buffer.from(m![1]!, 'base64')).metadata();
        expect(meta.format).toBe('jpeg');
        expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(256);
        expect(Math.min(meta.width, meta.height)).toBeGreaterThan(0);
      }
    }
    // A preview has no SSE id (it is not stored); every stored event keeps its id.
    for (const e of rawB) expect(e.id === null).toBe(previewOf(e) !== undefined);

    // Without the flag: not one preview, and the same stored events as the stream that had them.
    expect(eventsB.filter((e) => previewOf(e) !== undefined)).toEqual([]);
    expect(eventsB.map((e) => e.id)).toEqual(rawB.filter((e) => e.id !== null).map((e) => e.id));

    // Never stored: not in the job, the list, or the job's event stream in Redis.
    for (const id of [idA, idB]) {
      const job = await submit(`/v1/images/generations/${id}`);
      expect(job.json['status']).toBe('succeeded');
      expect(job.text).not.toContain('preview');
      expect(job.text).not.toContain('data:image');
      const stored = await redis.xrange(new Keys(stack.env['REDIS_PREFIX']!).events(id), '-', '+');
      expect(stored.length).toBeGreaterThan(2);
      expect(JSON.stringify(stored)).not.toContain('preview');
    }
    const list = await submit('/v1/images/generations');
    expect(list.text).not.toContain('data:image');
  });

  it('refuses a previews value other than 1, true, 0 or false with 400 invalid_request', async () => {
    const submit = http(stack);
    const [job] = (await submit('/v1/images/generations?limit=1')).json['data'] as { id: string }[];
    const bad = await submit(`/v1/images/generations/${job!.id}/events?previews=yes`);
    expect(bad.status).toBe(400);
    expect(bad.json['error']).toMatchObject({ code: 'invalid_request', param: 'previews' });
    expect(JSON.stringify(bad.json)).toContain('previews must be 1 or true');
    // `previews=0` is a plain stream (here of a finished job: its stored events, then the end).
    const plain = await rawStream(`/v1/images/generations/${job!.id}/events?previews=0`);
    expect(plain.at(-1)?.event).toBe('completed');
    expect(plain.filter((e) => previewOf(e) !== undefined)).toEqual([]);
  });
});
