/**
 * The image safety stage as a user meets it: on by default with the shipped nsfwjs classifier (no
 * SAFETY_MODEL_DIR), a flagged image ending its job `moderated` in the policy category `adult` with nothing
 * stored, and SAFETY_MODEL_DIR=none turning the stage off.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { networkDir, SAFETY_NETWORK } from '@imagegen/networks';
import type { RunningWorker } from '@imagegen/worker';

import { client, stackStorage, startStack, type TestStack } from '../support/stack.js';

const BUNDLED = fileURLToPath(new URL('../../packages/tiny-model/model', import.meta.url));

let stack: TestStack;
let api: ReturnType<typeof client>;
let strict: string;
beforeAll(async () => {
  stack = await startStack({ workers: 0 });
  api = client(stack);
  // The shipped classifier with a Porn threshold of 0 at every tolerance: every image's score passes it.
  strict = mkdtempSync(join(tmpdir(), 'imagegen-strict-safety-'));
  const shipped = networkDir(SAFETY_NETWORK);
  copyFileSync(join(shipped, 'model.onnx'), join(strict, 'model.onnx'));
  const config = JSON.parse(readFileSync(join(shipped, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(strict, 'config.json'), JSON.stringify({ ...config, thresholds: { Porn: 0 } }));
});
afterAll(async () => {
  await stack.stop();
  rmSync(strict, { recursive: true, force: true });
});

async function withWorker<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const w: RunningWorker = await stack.addWorker(env);
  try {
    return await fn();
  } finally {
    await w.close();
    stack.workers.splice(stack.workers.indexOf(w), 1);
  }
}

// Every generation here runs on the worker under test (each with its own safety settings): no-store keeps
// result reuse from answering a repeat with an earlier worker's copy.
const generate = (body: Record<string, unknown>) =>
  api('/v1/images/generations', {
    body: { aspect_ratio: '1:1', ...body },
    headers: { prefer: 'wait=60', 'cache-control': 'no-store' },
  });

describe('image safety stage with the shipped classifier', () => {
  it('runs on every job by default and lets the bundled model’s pictures through', async () => {
    await withWorker({ MODEL_DIR: BUNDLED }, async () => {
      for (const [prompt, seed] of [
        ['a big red square on a red background', 1],
        ['two small blue stars on a yellow background', 7],
      ] as const) {
        const r = await generate({ prompt, seed });
        expect(r.json).toMatchObject({ status: 'succeeded', moderation: null });
        expect((r.json['timings_ms'] as Record<string, number>)['safety']).toBeGreaterThan(0);
      }
    });
  });

  it('ends an image whose scores pass the configured thresholds as moderated, category adult, nothing stored', async () => {
    await withWorker({ MODEL_DIR: BUNDLED, SAFETY_MODEL_DIR: strict }, async () => {
      const storage = stackStorage(stack);
      const before = (await storage.list()).length;
      const r = await generate({ prompt: 'a green circle on a blue background', seed: 3 });
      expect(r.json).toMatchObject({
        status: 'moderated',
        image_url: null,
        error: { code: 'content_moderated' },
        moderation: { stage: 'output', category: 'adult' },
      });
      expect((await storage.list()).length).toBe(before);
    });
  });

  it('SAFETY_MODEL_DIR=none turns the stage off', async () => {
    await withWorker({ MODEL_DIR: BUNDLED, SAFETY_MODEL_DIR: 'none' }, async () => {
      const r = await generate({ prompt: 'a green circle on a blue background', seed: 3 });
      expect(r.json['status']).toBe('succeeded');
      expect((r.json['timings_ms'] as Record<string, number>)['safety']).toBe(0);
    });
  });
});
