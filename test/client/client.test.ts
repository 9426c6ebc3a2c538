import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadApiConfig, startApi, type RunningApi } from '@imagegen/api';
import {
  AuthenticationError,
  ConflictError,
  ContentPolicyError,
  ImageGen,
  ImageGenError,
  InvalidRequestError,
  JobCanceledError,
  NotFoundError,
  verifyWebhook,
  WebhookVerificationError,
  type Job,
  type JobEvent,
} from '@imagegen/client';
import { loadDispatcherConfig, startDispatcher, type RunningDispatcher } from '@imagegen/dispatcher';

import { until } from '../support/processes.js';
import { startReceiver } from '../support/receiver.js';
import { freePort } from '../support/redis.js';
import { slowModel } from '../support/slow-model.js';
import { startStack, type TestStack } from '../support/stack.js';

// One stack for the file: one worker on the fixture model with enough steps that a job is still running
// when the test acts on it (cancel, an API restart), a dispatcher and a webhook receiver.
const root = fileURLToPath(new URL('../../', import.meta.url));
const slow = slowModel(60);
const dir = mkdtempSync(join(tmpdir(), 'imagegen-client-'));
let stack: TestStack;
let client: ImageGen;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let dispatcher: RunningDispatcher;
beforeAll(async () => {
  stack = await startStack({
    workers: 0,
    env: { IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1', MODEL_DIR: slow.dir },
  });
  await stack.addWorker();
  receiver = await startReceiver();
  dispatcher = await startDispatcher(loadDispatcherConfig(stack.env));
  client = new ImageGen({ apiKey: stack.key, baseURL: stack.base });
});
afterAll(async () => {
  await dispatcher.close();
  await receiver.close();
  await stack.stop();
  slow.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const collect = async (events: AsyncIterable<JobEvent>) => {
  const got: JobEvent[] = [];
  for await (const e of events) got.push(e);
  return got;
};

describe('@imagegen/client against the service', () => {
  it("runs the vendor's example: generateImage returns image_url, seed, request_id and the job", async () => {
    // The README's example as a user runs it: the published entry (dist/), key and URL from the environment.
    // (Asynchronously: the API it calls runs in this process.)
    const r = await promisify(execFile)(
      process.execPath,
      [join(root, 'packages/client/examples/generate-image.mjs')],
      {
        env: { ...process.env, IMAGEGEN_API_KEY: stack.key, IMAGEGEN_BASE_URL: stack.base },
      },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Image URL: http:\/\/127\.0\.0\.1:\d+\/.+\.jpg\?X-Amz-.+\nSeed: \d+\n$/);

    const result = await client.generateImage({ prompt: 'A red circle', aspect_ratio: '1:1', seed: 42 });
    expect(result).toMatchObject({ seed: 42, request_id: result.job.id, revised_prompt: null });
    expect(result.image_url).toBe(result.job.output!.url);
    expect(result.job).toMatchObject({ status: 'succeeded', output: { width: 1024, height: 1024 } });

    const file = join(dir, 'red.jpg');
    const saved = await client.download(result, file);
    expect(saved).toEqual({ path: file, bytes: result.job.output!.bytes, contentType: 'image/jpeg' });
    const meta = await sharp(readFileSync(file)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1024, 1024]);
    const blob = await client.download(result.job);
    expect(Buffer.from(await blob.arrayBuffer())).toEqual(readFileSync(file));
    // Canceling a job that already succeeded is a 409 conflict.
    const late = await client.cancel(result.job.id).catch((err: unknown) => err);
    expect(late).toBeInstanceOf(ConflictError);
    expect(late).toMatchObject({ code: 'conflict', status: 409 });
  });

  it('gets an identical seeded request answered from the earlier result, unless cache is false', async () => {
    const params = { prompt: 'a purple ring', aspect_ratio: '1:1', seed: 9090 } as const;
    const first = await client.generateImage(params);
    expect(first.job.cached).toBe(false);
    const again = await client.generateImage(params);
    expect(again.job).toMatchObject({ status: 'succeeded', cached: true, attempt: 0 });
    expect(again.image_url).not.toBe(first.image_url);
    const fresh = await client.generateImage(params, { cache: false });
    expect(fresh.job).toMatchObject({ cached: false, attempt: 1 });
  });

  it('submit, get and wait follow a job to its end; events() streams queued, started, progress, completed', async () => {
    const queued = await client.submit({ prompt: 'two small blue stars', output_format: 'png', seed: 7 });
    expect(queued).toMatchObject({ seed: 7, input: { output_format: 'png' }, output: null, success: null });
    // The idle worker may take the job before the API reads it back for its answer: unfinished either way.
    expect(['queued', 'processing']).toContain(queued.status);
    expect((await client.get(queued.id)).id).toBe(queued.id);
    const events = await collect(client.events(queued.id));
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('queued');
    expect(types).toContain('started');
    expect(types.at(-1)).toBe('completed');
    const steps = events.flatMap((e) => (e.type === 'progress' && e.data.step !== null ? [e.data] : []));
    expect(steps.at(-1)).toMatchObject({ stage: 'generating', step: 60, total: 60 });
    const done = await client.wait(queued.id);
    expect(done).toMatchObject({ status: 'succeeded', output: { format: 'png' } });
    expect((events.at(-1)!.data as Job).id).toBe(done.id);
  });

  it('events() resumes with Last-Event-ID across an API restart mid-job: every event once, in order', async () => {
    // No worker while the API restarts, so the job is certainly unfinished then; one comes after.
    await Promise.all(stack.workers.splice(0).map((w) => w.close()));
    const port = await freePort();
    const env = { ...stack.env, PORT: String(port) };
    let api: RunningApi = await startApi(loadApiConfig(env));
    try {
      const viaRestarting = new ImageGen({
        apiKey: stack.key,
        baseURL: `http://127.0.0.1:${port}`,
        maxRetryDelayMs: 100,
        retryBaseDelayMs: 20,
        maxRetries: 50,
      });
      const job = await viaRestarting.submit({ prompt: 'A red circle', aspect_ratio: '1:1' });
      const got: JobEvent[] = [];
      for await (const e of viaRestarting.events(job.id)) {
        got.push(e);
        if (got.length === 1) {
          // The API ends its streams and goes away; it comes back on the same port, and a worker starts.
          await api.close();
          api = await startApi(loadApiConfig(env));
          await stack.addWorker();
        }
      }
      expect(got.map((e) => e.type)).toEqual(
        expect.arrayContaining(['queued', 'started', 'progress', 'completed']),
      );
      expect(got.at(-1)!.type).toBe('completed');
      // Across the restart, every event once and in order: stream ids strictly increase.
      const order = (id: string) => id.split('-').map(Number) as [number, number];
      for (let i = 1; i < got.length; i++) {
        const [am, as] = order(got[i - 1]!.id);
        const [bm, bs] = order(got[i]!.id);
        expect(bm > am || (bm === am && bs > as), `${got[i]!.id} after ${got[i - 1]!.id}`).toBe(true);
      }
      // The stream read afresh afterwards is what the job keeps once finished (its progress events but the
      // last are dropped then, issue 17 finding 5): all of it was seen, and the client saw nothing else but
      // the dropped progress events.
      const fresh = await collect(client.events(job.id));
      const seen = new Map(got.map((e) => [e.id, e.type]));
      for (const e of fresh) expect(seen.get(e.id)).toBe(e.type);
      const kept = new Set(fresh.map((e) => e.id));
      expect(got.filter((e) => !kept.has(e.id)).every((e) => e.type === 'progress')).toBe(true);
    } finally {
      await api.close();
    }
  });

  it('cancel() stops a job; generateImage of a canceled job (same Idempotency-Key) throws JobCanceledError', async () => {
    const params = { prompt: 'a lighthouse on a rocky coast', seed: 11 };
    const job = await client.submit(params, { idempotencyKey: 'cancel-me' });
    const canceled = await client.cancel(job.id);
    expect(canceled).toMatchObject({ id: job.id, status: 'canceled' });
    const e = await client
      .generateImage(params, { idempotencyKey: 'cancel-me' })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(JobCanceledError);
    expect(e).toMatchObject({ code: 'canceled', job: { id: job.id, status: 'canceled' } });
    await expect(client.download(canceled)).rejects.toBeInstanceOf(JobCanceledError);
    // Idempotent: canceling it again answers the canceled job.
    expect(await client.cancel(job.id)).toMatchObject({ status: 'canceled' });
  });

  it('throws typed errors with code, status, param, details and request id', async () => {
    const e = async (p: Promise<unknown>) =>
      p.then(
        () => expect.fail('resolved'),
        (err: unknown) => err,
      );
    const missing = await e(client.get('gen_doesnotexist'));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ code: 'not_found', status: 404 });
    expect((missing as NotFoundError).requestId).toMatch(/^req_/);

    const invalid = await e(
      client.submit({ prompt: ' ', aspect_ratio: '5:4' as '1:1', seed: -1 }, { idempotencyKey: 'bad' }),
    );
    expect(invalid).toBeInstanceOf(InvalidRequestError);
    expect(invalid).toMatchObject({ code: 'invalid_request', status: 400, param: 'prompt' });
    expect((invalid as ImageGenError).details!.map((d) => d.param)).toEqual([
      'prompt',
      'aspect_ratio',
      'seed',
    ]);

    const refused = await e(client.generateImage({ prompt: 'a decapitated body, gore everywhere' }));
    expect(refused).toBeInstanceOf(ContentPolicyError);
    expect(refused).toMatchObject({ code: 'content_policy_violation', status: 400, category: 'violence' });

    await client
      .submit({ prompt: 'one', seed: 1 }, { idempotencyKey: 'reused' })
      .then((j) => client.cancel(j.id));
    const reused = await e(client.submit({ prompt: 'two', seed: 1 }, { idempotencyKey: 'reused' }));
    expect(reused).toBeInstanceOf(ConflictError);
    expect(reused).toMatchObject({ code: 'idempotency_conflict', status: 409, param: 'Idempotency-Key' });

    const stranger = new ImageGen({ apiKey: 'ig_000000000000_nope', baseURL: stack.base });
    const unauthorized = await e(stranger.get('gen_x'));
    expect(unauthorized).toBeInstanceOf(AuthenticationError);
    expect(unauthorized).toMatchObject({ code: 'unauthorized', status: 401 });
  });

  it('list() pages through the key’s jobs newest first, filtered by status', async () => {
    const { secret } = await stack.api.apiKeys.create('lister');
    const mine = new ImageGen({ apiKey: secret, baseURL: stack.base });
    const a = await mine.submit({ prompt: 'A red circle', aspect_ratio: '1:1', seed: 1 });
    const b = await mine.submit({ prompt: 'A blue square', aspect_ratio: '1:1', seed: 2 });
    const c = await mine.submit({ prompt: 'A green star', aspect_ratio: '1:1', seed: 3 });
    await Promise.all([mine.cancel(b.id), mine.cancel(c.id)]);
    await mine.wait(a.id);
    const pages = [];
    for await (const page of mine.list({ limit: 2 }).pages()) pages.push(page);
    expect(pages.map((p) => p.data.map((j) => j.id))).toEqual([[c.id, b.id], [a.id]]);
    expect(pages.map((p) => p.next_cursor === null)).toEqual([false, true]);
    const ids = async (status: Parameters<ImageGen['list']>[0]) => {
      const out: string[] = [];
      for await (const j of mine.list(status)) out.push(j.id);
      return out;
    };
    expect(await ids({ limit: 1 })).toEqual([c.id, b.id, a.id]);
    expect(await ids({ status: 'canceled' })).toEqual([c.id, b.id]);
    expect(await ids({ status: ['succeeded', 'failed'] })).toEqual([a.id]);
  });

  it('analyze() checks a prompt without queueing it', async () => {
    const ok = await client.analyze({
      prompt: 'A golden retriever puppy playing in a meadow, soft lighting, photorealistic, 8k',
    });
    expect(ok).toMatchObject({ object: 'prompt.analysis', moderation: { allowed: true, category: null } });
    expect(ok.analysis['subject']).toEqual(expect.arrayContaining([expect.stringContaining('puppy')]));
    const refused = await client.analyze({
      prompt: 'a decapitated body, gore everywhere',
      safety_tolerance: 0,
    });
    expect(refused.moderation).toEqual({ allowed: false, category: 'violence', safety_tolerance: 0 });
  });

  it('verifyWebhook() verifies a real signed delivery from the service and refuses a tampered one', async () => {
    const result = await client.generateImage({
      prompt: 'A red circle',
      aspect_ratio: '1:1',
      webhook_url: receiver.url,
    });
    const d = await until('the webhook delivery', () => receiver.forJob(result.job.id)[0]);
    const event = (await verifyWebhook(d.headers, d.body, stack.webhookSecret)) as {
      type: string;
      data: Job;
    };
    expect(event.type).toBe('image.generation.succeeded');
    expect(event.data).toMatchObject({ id: result.job.id, status: 'succeeded', seed: result.seed });
    await expect(verifyWebhook(d.headers, Buffer.from(d.body), stack.webhookSecret)).resolves.toEqual(event);
    await expect(
      verifyWebhook(d.headers, d.body.replace('succeeded', 'failed'), stack.webhookSecret),
    ).rejects.toBeInstanceOf(WebhookVerificationError);
  });
});
