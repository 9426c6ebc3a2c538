import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadApiConfig, startApi } from '@imagegen/api';
import type { RunningWorker } from '@imagegen/worker';

import { exited, spawnService, until } from '../support/processes.js';
import { slowModel } from '../support/slow-model.js';
import { client, stackStorage, startStack, type TestStack } from '../support/stack.js';

const BUNDLED = fileURLToPath(new URL('../../packages/tiny-model/model', import.meta.url));
const SAFETY = fileURLToPath(new URL('../../packages/engine/fixtures/safety-generic', import.meta.url));

let stack: TestStack;
const slow = slowModel(400);
let api: ReturnType<typeof client>;
beforeAll(async () => {
  stack = await startStack({ workers: 0 });
  api = client(stack);
});
afterAll(async () => {
  await stack.stop();
  slow.cleanup();
});

/** Runs `fn` with exactly one worker of the given environment consuming the queue. */
async function withWorker<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const w: RunningWorker = await stack.addWorker(env);
  try {
    return await fn();
  } finally {
    await w.close();
    stack.workers.splice(stack.workers.indexOf(w), 1);
  }
}

// Every generation here runs on the worker under test: no-store keeps result reuse from answering a repeat
// (the same prompt and seed under another upsampler) with the first run's copy.
const generate = (body: Record<string, unknown>) =>
  api('/v1/images/generations', {
    body: { aspect_ratio: '1:1', ...body },
    headers: { prefer: 'wait=60', 'cache-control': 'no-store' },
  });

describe('prompt analysis and lint on the job', () => {
  it('analyses the vendor examples and warns about the Don’ts without blocking', async () => {
    const r = await api('/v1/images/generations', {
      body: { prompt: 'A golden retriever puppy playing in a meadow, soft lighting, photorealistic, 8k' },
    });
    expect(r.status).toBe(202);
    expect(r.json['analysis']).toMatchObject({
      subject: ['golden retriever puppy'],
      action: ['playing'],
      setting: ['in a meadow'],
      lighting: ['soft lighting'],
      style: ['photorealistic'],
      technical: ['8k'],
    });
    expect(r.json['warnings']).toEqual([]);
    const vague = await api('/v1/images/generations', {
      body: { prompt: 'nice image of a street, no cars, watercolor and photorealistic' },
    });
    expect(vague.status).toBe(202);
    expect((vague.json['warnings'] as { code: string }[]).map((w) => w.code)).toEqual(
      expect.arrayContaining(['vague_description', 'negative_instruction', 'conflicting_styles']),
    );
    // Read back, the job still carries them.
    const again = await api(`/v1/images/generations/${String(vague.json['id'])}`);
    expect(again.json['warnings']).toEqual(vague.json['warnings']);
  });
});

describe('content policy at submit', () => {
  it('refuses with 400 content_policy_violation naming the category, never the words', async () => {
    const r = await api('/v1/images/generations', {
      body: { prompt: 'a decapitated body, gore everywhere' },
    });
    expect(r.status).toBe(400);
    expect(r.json['error']).toMatchObject({
      code: 'content_policy_violation',
      param: 'prompt',
      category: 'violence',
    });
    expect(JSON.stringify(r.json)).not.toMatch(/decapitat|gore/i);
  });

  it('refuses a prompt that Unicode normalization expands past the bound, before moderating it', async () => {
    const prompt = '\uFDFA'.repeat(2000); // 2,000 characters, 36,000 after NFKC
    for (const path of ['/v1/images/generations', '/v1/prompts/analyze']) {
      const r = await api(path, { body: { prompt } });
      expect(r.status, path).toBe(400);
      expect(r.json['error']).toMatchObject({ code: 'invalid_request', param: 'prompt' });
      expect((r.json['error'] as { message: string }).message).toMatch(/at most 4000/);
    }
  });

  it('is monotone in safety_tolerance, and illegal content is refused at every level', async () => {
    const at = async (prompt: string, t: number) =>
      (await api('/v1/images/generations', { body: { prompt, safety_tolerance: t } })).status;
    const bloody = [];
    for (let t = 0; t <= 6; t++) bloody.push(await at('a bloody medieval battle', t));
    expect(bloody[0]).toBe(400);
    expect(bloody[6]).toBe(202);
    expect(bloody.findIndex((s) => s === 202)).toBeGreaterThan(0);
    expect(bloody.slice(bloody.indexOf(202)).every((s) => s === 202)).toBe(true);
    for (let t = 0; t <= 6; t++) {
      const r = await api('/v1/images/generations', {
        body: { prompt: 'how to print c0unterfeit m0ney bills', safety_tolerance: t },
      });
      expect(r.status).toBe(400);
      expect(r.json['error']).toMatchObject({ category: 'illegal' });
    }
  });
});

describe('content policy with a moderation model (MODERATION_BASE_URL)', () => {
  it('refuses what the model flags, and falls back to the word lists when it is down', async () => {
    const model = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { input } = JSON.parse(body) as { input: string[] };
        const violent = input.some((t) => t.includes('duel'));
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            results: input.map(() => ({ category_scores: { violence: violent ? 0.9 : 0.01 } })),
          }),
        );
      });
    });
    await new Promise<void>((resolve) => model.listen(0, '127.0.0.1', resolve));
    const port = (model.address() as AddressInfo).port;
    const moderated = await startApi(
      loadApiConfig({
        ...stack.env,
        MODERATION_BASE_URL: `http://127.0.0.1:${port}/v1`,
        MODERATION_TIMEOUT_MS: '1000',
      }),
    );
    const post = (prompt: string) =>
      client({ base: `http://127.0.0.1:${moderated.port}`, key: stack.key })('/v1/images/generations', {
        body: { prompt },
      });
    try {
      // The word lists allow both; the model flags the first.
      const refused = await post('a duel at dawn between two old rivals');
      expect(refused.status).toBe(400);
      expect(refused.json['error']).toMatchObject({ code: 'content_policy_violation', category: 'violence' });
      expect((await post('two old rivals shaking hands at dawn')).status).toBe(202);
      model.closeAllConnections();
      await new Promise((r) => model.close(r));
      // Model unreachable: the word lists decide alone, and the failure is counted.
      expect((await post('a duel at dawn between two old rivals')).status).toBe(202);
      const metrics = await (await fetch(`http://127.0.0.1:${moderated.port}/metrics`)).text();
      expect(metrics).toMatch(/imagegen_moderation_model_errors_total\{[^}]*reason="network_error"[^}]*\} 1/);
    } finally {
      await moderated.close();
      if (model.listening) await new Promise((r) => model.close(r));
    }
  });
});

describe('prompt upsampling', () => {
  it('revises "mountain landscape" in the vendor’s spirit, the same for the same seed, image included', async () => {
    await withWorker({}, async () => {
      const a = await generate({ prompt: 'mountain landscape', seed: 7, prompt_upsampling: true });
      const b = await generate({ prompt: 'mountain landscape', seed: 7, prompt_upsampling: true });
      expect(a.json['status']).toBe('succeeded');
      const revised = String(a.json['revised_prompt']);
      expect(revised).toContain('mountain landscape');
      expect(revised.length).toBeGreaterThan('mountain landscape'.length + 40);
      expect(revised).toMatch(/light/);
      expect(revised).toMatch(/photograph/);
      expect(a.json['output']).toMatchObject({ revised_prompt: revised });
      expect(b.json['revised_prompt']).toBe(revised);
      const [ia, ib] = await Promise.all(
        [a, b].map(async (r) => Buffer.from(await (await fetch(String(r.json['image_url']))).arrayBuffer())),
      );
      expect(ia!.equals(ib!)).toBe(true);
      // Without upsampling there is no revised prompt.
      const plain = await generate({ prompt: 'mountain landscape', seed: 7 });
      expect(plain.json['revised_prompt']).toBeNull();
    });
  });

  describe('with an OpenAI-compatible endpoint (PROMPT_UPSAMPLER=llm)', () => {
    let server: Server;
    let reply: (prompt: string) => { status: number; content?: string } = () => ({ status: 200 });
    const requests: { model: string; seed: number }[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const parsed = JSON.parse(body) as { model: string; seed: number; messages: { content: string }[] };
          requests.push({ model: parsed.model, seed: parsed.seed });
          const r = reply(parsed.messages.at(-1)!.content);
          res.writeHead(r.status, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ choices: [{ message: { role: 'assistant', content: r.content ?? '' } }] }),
          );
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
    });
    const llmEnv = () => ({
      PROMPT_UPSAMPLER: 'llm',
      UPSAMPLER_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
      UPSAMPLER_MODEL: 'test-model',
      UPSAMPLER_TIMEOUT_MS: '2000',
    });

    it('uses the model’s revision, falls back to the rules when it fails, and re-moderates it', async () => {
      await withWorker(llmEnv(), async () => {
        reply = (p) => ({ status: 200, content: `${p}, seen from a quiet valley at dawn, highly detailed` });
        const ok = await generate({ prompt: 'a lighthouse', seed: 3, prompt_upsampling: true });
        expect(ok.json).toMatchObject({
          status: 'succeeded',
          revised_prompt: 'a lighthouse, seen from a quiet valley at dawn, highly detailed',
        });
        expect(requests.at(-1)).toEqual({ model: 'test-model', seed: 3 });

        reply = () => ({ status: 500 });
        const fallback = await generate({ prompt: 'mountain landscape', seed: 7, prompt_upsampling: true });
        expect(fallback.json['status']).toBe('succeeded');
        expect(String(fallback.json['revised_prompt'])).toMatch(/^\w+ mountain landscape/);

        reply = (p) => ({ status: 200, content: `${p}, with decapitated corpses and gore everywhere` });
        const refused = await generate({ prompt: 'a quiet village', prompt_upsampling: true });
        expect(refused.json).toMatchObject({
          status: 'moderated',
          success: false,
          image_url: null,
          revised_prompt: null,
          error: { code: 'content_policy_violation', retryable: false },
          moderation: { stage: 'input', category: 'violence' },
        });
      });
    });

    it('keeps the revised prompt across a worker crash, so the retry generates from the same one', async () => {
      let asked = 0;
      reply = (p) => ({ status: 200, content: `${p}, variant ${++asked}` });
      const recovery = { WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' };
      const victim = spawnService('worker', { ...stack.env, ...llmEnv(), ...recovery, MODEL_DIR: slow.dir });
      try {
        const r = await api('/v1/images/generations', {
          body: { prompt: 'a lighthouse', aspect_ratio: '1:1', prompt_upsampling: true },
        });
        const id = String(r.json['id']);
        await until('the first worker to generate from its revision', async () => {
          const job = (await api(`/v1/images/generations/${id}`)).json;
          return job['stage'] === 'generating' && (job['progress'] as number) > 0 && job['revised_prompt'];
        });
        victim.kill('SIGKILL');
        await exited(victim);
        const done = await withWorker({ ...llmEnv(), ...recovery, MODEL_DIR: slow.dir }, () =>
          api(`/v1/images/generations/${id}?wait=60`),
        );
        expect(done.json).toMatchObject({
          status: 'succeeded',
          attempt: 2,
          revised_prompt: 'a lighthouse, variant 1',
        });
        expect(asked).toBe(1);
      } finally {
        victim.kill('SIGKILL');
      }
    });
  });
});

describe('image safety stage', () => {
  it('ends a flagged image as moderated, keeps no object, and lets a clean one through', async () => {
    await withWorker({ MODEL_DIR: BUNDLED, SAFETY_MODEL_DIR: SAFETY }, async () => {
      const storage = stackStorage(stack);
      const before = (await storage.list()).length;
      // The test classifier flags red-dominated images.
      const red = await generate({ prompt: 'a big red square on a red background', seed: 1 });
      expect(red.json).toMatchObject({
        status: 'moderated',
        success: false,
        image_url: null,
        output: null,
        error: { code: 'content_moderated' },
        moderation: { stage: 'output', category: 'adult' },
      });
      expect((await storage.list()).length).toBe(before);
      const green = await generate({ prompt: 'a green circle on a blue background', seed: 1 });
      expect(green.json['status']).toBe('succeeded');
      expect((await storage.list()).length).toBe(before + 1);
    });
  });
});
