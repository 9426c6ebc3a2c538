/**
 * The BFL API adapter (`/bfl/v1`) as a BFL client meets it, against a real stack and dispatcher: a client
 * written from BFL's published API (submit with `x-key`, follow `polling_url`, read `result.sample`), every
 * status BFL reports, and a webhook signed as BFL signs it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadDispatcherConfig, startDispatcher, type RunningDispatcher } from '@imagegen/dispatcher';
import { networkDir, SAFETY_NETWORK } from '@imagegen/networks';
import type { RunningWorker } from '@imagegen/worker';

import { until } from '../support/processes.js';
import { startReceiver } from '../support/receiver.js';
import { client, startStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let dispatcher: RunningDispatcher;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let proxy: Server;
let publicBase: string;
let strictSafety: string;
let worker: RunningWorker | null = null;

beforeAll(async () => {
  // The public address is a forwarder in front of the API, as a reverse proxy would be: polling_url must
  // name it (PUBLIC_BASE_URL), whatever Host the client sent.
  let apiPort = 0;
  proxy = createServer((socket) => {
    const upstream = connect(apiPort, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  publicBase = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  stack = await startStack({
    workers: 0,
    env: { PUBLIC_BASE_URL: publicBase, IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1', UPSCALER: 'lanczos' },
  });
  apiPort = stack.api.port;
  receiver = await startReceiver();
  dispatcher = await startDispatcher(loadDispatcherConfig(stack.env));
  // The shipped classifier with a Porn threshold of 0: every image is withheld.
  strictSafety = mkdtempSync(join(tmpdir(), 'imagegen-bfl-safety-'));
  const shipped = networkDir(SAFETY_NETWORK);
  copyFileSync(join(shipped, 'model.onnx'), join(strictSafety, 'model.onnx'));
  const config = JSON.parse(readFileSync(join(shipped, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(strictSafety, 'config.json'), JSON.stringify({ ...config, thresholds: { Porn: 0 } }));
});
afterAll(async () => {
  await dispatcher.close();
  await receiver.close();
  await stack.stop();
  proxy.close();
  rmSync(strictSafety, { recursive: true, force: true });
});

/** Runs one worker (with extra environment) in place of any other; keeps a running one with that environment. */
let workerEnv: string | null = null;
async function useWorker(env: Record<string, string> | null): Promise<void> {
  if (JSON.stringify(env) === workerEnv) return;
  workerEnv = JSON.stringify(env);
  if (worker) {
    await worker.close();
    stack.workers.splice(stack.workers.indexOf(worker), 1);
    worker = null;
  }
  if (env) worker = await stack.addWorker(env);
}

interface BflResult {
  id: string;
  status: string;
  result: { sample: string; prompt: string; seed: number } | null;
  progress: number | null;
  details: Record<string, unknown> | null;
}

/** A BFL client as BFL documents one: `x-key`, submit, then poll `polling_url` until a final status. */
function bflClient(key: string, base: string) {
  const headers = { 'x-key': key, 'content-type': 'application/json', accept: 'application/json' };
  return {
    async submit(model: string, body: Record<string, unknown>, extra: Record<string, string> = {}) {
      const res = await fetch(`${base}/bfl/v1/${model}`, {
        method: 'POST',
        headers: { ...headers, ...extra },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    },
    async poll(pollingUrl: string): Promise<BflResult[]> {
      const seen: BflResult[] = [];
      return until(
        `a final status from ${pollingUrl}`,
        async () => {
          const res = await fetch(pollingUrl, { headers });
          expect(res.status).toBe(200);
          seen.push((await res.json()) as BflResult);
          return seen.at(-1)!.status === 'Pending' ? null : seen;
        },
        60_000,
      );
    },
  };
}

const bfl = () => bflClient(stack.key, stack.base);
const native = () => client(stack);

/** Width and height from a JPEG's start-of-frame segment. */
function jpegSize(bytes: Buffer): [number, number] {
  expect([bytes[0], bytes[1]]).toEqual([0xff, 0xd8]);
  for (let at = 2; at + 9 < bytes.length;) {
    const marker = bytes[at + 1]!;
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return [bytes.readUInt16BE(at + 7), bytes.readUInt16BE(at + 5)];
    }
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  throw new Error('no start-of-frame segment in the JPEG');
}

/** BFL's documented check: `X-BFL-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. */
function bflSignatureValid(body: string, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(body).digest('hex');
  const given = header.slice('sha256='.length);
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

describe('BFL client → /bfl/v1', () => {
  it('submits with x-key, follows the polling_url of PUBLIC_BASE_URL (not Host) to Ready, and reads result.sample', async () => {
    await useWorker({});
    const c = bfl();
    const submitted = await c.submit(
      'flux-pro-1.1',
      { prompt: 'a red circle on a white background', width: 1024, height: 768, seed: 77 },
      { host: 'evil.example' },
    );
    expect(submitted.status).toBe(200);
    const id = submitted.json['id'] as string;
    expect(submitted.json).toEqual({ id, polling_url: `${publicBase}/bfl/v1/get_result?id=${id}` });
    const seen = await c.poll(submitted.json['polling_url'] as string);
    const ready = seen.at(-1)!;
    expect(ready).toMatchObject({
      id,
      status: 'Ready',
      progress: 1,
      result: { prompt: 'a red circle on a white background', seed: 77 },
    });
    const image = Buffer.from(await (await fetch(ready.result!.sample)).arrayBuffer());
    expect(jpegSize(image)).toEqual([1024, 768]);
    // The same job, in the native API's list.
    const listed = (await native()('/v1/images/generations')).json['data'] as Record<string, unknown>[];
    expect(listed.find((j) => j['id'] === id)).toMatchObject({
      status: 'succeeded',
      input: { aspect_ratio: '4:3', seed: 77, output_format: 'jpeg' },
      metadata: { adapter: 'bfl', model: 'flux-pro-1.1' },
    });
  });

  it('reports a refused prompt as Request Moderated, and sends its webhook signed as BFL signs', async () => {
    const secret = 'my-bfl-secret';
    const submitted = await bfl().submit('flux-dev', {
      prompt: 'a decapitated body, gore everywhere',
      webhook_url: receiver.url,
      webhook_secret: secret,
    });
    expect(submitted.status).toBe(200);
    const id = submitted.json['id'] as string;
    expect(submitted.json).toMatchObject({ id, status: 'Pending', webhook_url: receiver.url });
    const moderated = (await bfl().poll(submitted.json['polling_url'] as string)).at(-1)!;
    expect(moderated).toMatchObject({
      id,
      status: 'Request Moderated',
      result: null,
      details: { 'Moderation Reasons': ['violence'] },
    });
    const hook = await until('the webhook', () =>
      receiver.deliveries.find((d) => (JSON.parse(d.body) as { id?: string }).id === id),
    );
    expect(bflSignatureValid(hook.body, hook.headers['x-bfl-signature'], secret)).toBe(true);
    expect(bflSignatureValid(hook.body, hook.headers['x-bfl-signature'], 'another secret')).toBe(false);
    expect(JSON.parse(hook.body)).toMatchObject({
      id,
      status: 'Request Moderated',
      error: 'content_policy_violation',
    });
    const job = (await native()(`/v1/images/generations/${id}`)).json;
    expect(job).toMatchObject({ status: 'moderated', moderation: { stage: 'input', category: 'violence' } });
    // The secret is the client's: never shown on the job.
    expect(JSON.stringify(job)).not.toContain(secret);
  });

  it('sends a Ready webhook with result.sample, signed with the request’s webhook_secret', async () => {
    await useWorker({});
    const secret = 'another-bfl-secret';
    const submitted = await bfl().submit('flux-pro-1.1-ultra', {
      prompt: 'two small blue stars',
      // BFL's Ultra takes any ratio between 21:9 and 9:21: 3:2 is nearest 4:3.
      aspect_ratio: '3:2',
      output_format: 'png',
      webhook_url: receiver.url,
      webhook_secret: secret,
    });
    const id = submitted.json['id'] as string;
    const hook = await until('the webhook', () =>
      receiver.deliveries.find((d) => (JSON.parse(d.body) as { id?: string }).id === id),
    );
    expect(bflSignatureValid(hook.body, hook.headers['x-bfl-signature'], secret)).toBe(true);
    const body = JSON.parse(hook.body) as BflResult & { timestamp: string };
    expect(body).toMatchObject({ id, status: 'Ready', result: { prompt: 'two small blue stars' } });
    expect(Date.parse(body.timestamp)).toBeGreaterThan(0);
    const image = Buffer.from(await (await fetch(body.result!.sample)).arrayBuffer());
    expect([image.readUInt32BE(16), image.readUInt32BE(20)]).toEqual([1024, 768]);
  });

  it('reports an image the safety check withheld as Content Moderated', async () => {
    await useWorker({ SAFETY_MODEL_DIR: strictSafety });
    try {
      const submitted = await bfl().submit('flux-dev', { prompt: 'a big red square', aspect_ratio: '1:1' });
      const result = (await bfl().poll(submitted.json['polling_url'] as string)).at(-1)!;
      expect(result).toMatchObject({
        status: 'Content Moderated',
        result: null,
        details: { 'Moderation Reasons': ['adult'] },
      });
    } finally {
      await useWorker(null);
    }
  });

  it('reports a waiting job as Pending and a canceled one as Error; unknown and other keys’ ids as Task not found', async () => {
    await useWorker(null);
    const submitted = await bfl().submit('flux-dev', { prompt: 'a small green triangle' });
    const pollingUrl = submitted.json['polling_url'] as string;
    const id = submitted.json['id'] as string;
    const pending = (await (
      await fetch(pollingUrl, { headers: { 'x-key': stack.key } })
    ).json()) as BflResult;
    expect(pending).toMatchObject({ id, status: 'Pending', result: null, progress: 0 });
    expect((await native()(`/v1/images/generations/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    const failed = (await bfl().poll(pollingUrl)).at(-1)!;
    expect(failed).toMatchObject({ id, status: 'Error', result: null, details: { code: 'canceled' } });

    const other = await stack.api.apiKeys.create('bfl-other');
    const asOther = await fetch(pollingUrl, { headers: { 'x-key': other.secret } });
    expect(await asOther.json()).toMatchObject({ id, status: 'Task not found', result: null });
    const unknown = await fetch(`${stack.base}/bfl/v1/get_result?id=gen_nope`, {
      headers: { 'x-key': stack.key },
    });
    expect(await unknown.json()).toMatchObject({ id: 'gen_nope', status: 'Task not found' });
  });

  it('answers validation errors as FastAPI does: 422 {detail: [{loc, msg, type}]}', async () => {
    const c = bfl();
    const bad = await c.submit('flux-dev', {
      prompt: 'a red circle',
      width: 1024,
      output_format: 'webp',
      image_prompt: 'aGVsbG8=',
    });
    expect(bad.status).toBe(422);
    const detail = bad.json['detail'] as { loc: string[]; msg: string; type: string }[];
    expect(detail.map((d) => d.loc.join('.'))).toEqual(
      expect.arrayContaining(['body.image_prompt', 'body.output_format', 'body.height']),
    );
    expect(detail.find((d) => d.loc[1] === 'output_format')!.msg).toMatch(/webp is not offered/);
    const noId = await fetch(`${stack.base}/bfl/v1/get_result`, { headers: { 'x-key': stack.key } });
    expect(noId.status).toBe(422);
    expect(await noId.json()).toEqual({
      detail: [{ loc: ['query', 'id'], msg: 'Field required', type: 'missing' }],
    });
    const noKey = await fetch(`${stack.base}/bfl/v1/flux-dev`, { method: 'POST', body: '{}' });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toEqual({ detail: expect.stringMatching(/x-key/) as unknown });
  });
});
