import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { Engine, EngineError } from '@imagegen/engine';

import { copyModel, FIXTURES, TINY_RANDOM, useVariant } from './fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

function broken(change: (dir: string) => void): string {
  const model = copyModel();
  cleanup = model.cleanup;
  change(model.dir);
  return model.dir;
}

async function loadError(modelDir: string, extra: Partial<Parameters<typeof Engine.load>[0]> = {}) {
  const e = await Engine.load({ modelDir, ...extra }).then(
    async (engine) => {
      await engine.close();
      throw new Error('expected the model to be rejected');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(EngineError);
  return e as EngineError;
}

describe('a bad model directory gives a clear error naming the file', () => {
  it('missing directory', async () => {
    const e = await loadError('/nonexistent/model');
    expect(e.code).toBe('model_not_found');
    expect(e.message).toContain('model_index.json is missing');
  });

  for (const file of [
    'model_index.json',
    'unet/model.onnx',
    'tokenizer/merges.txt',
    'scheduler/scheduler_config.json',
  ]) {
    it(`missing ${file}`, async () => {
      const e = await loadError(broken((dir) => rmSync(join(dir, file))));
      expect(e.code).toBe('model_not_found');
      expect(e.file).toBe(file);
      expect(e.message).toContain(file);
    });
  }

  it('malformed JSON', async () => {
    const e = await loadError(
      broken((dir) => writeFileSync(join(dir, 'scheduler/scheduler_config.json'), '{"_class_name": ')),
    );
    expect(e.code).toBe('model_invalid');
    expect(e.message).toMatch(/^scheduler\/scheduler_config\.json is not valid JSON/);
  });

  it('unsupported scheduler', async () => {
    const e = await loadError(
      broken((dir) =>
        writeFileSync(join(dir, 'scheduler/scheduler_config.json'), '{"_class_name":"KarrasVeScheduler"}'),
      ),
    );
    expect(e.code).toBe('model_incompatible');
    expect(e.message).toContain('KarrasVeScheduler');
  });

  it('an ONNX file that is not a model', async () => {
    const e = await loadError(
      broken((dir) => writeFileSync(join(dir, 'vae_decoder/model.onnx'), 'not a model')),
    );
    expect(e.code).toBe('model_invalid');
    expect(e.message).toMatch(/^vae_decoder\/model\.onnx could not be loaded by onnxruntime/);
  });

  it('a network with the wrong tensors names the file and the tensor', async () => {
    const e = await loadError(broken((dir) => useVariant(dir, '../tiny-random/vae_decoder', 'unet')));
    expect(e.code).toBe('model_incompatible');
    expect(e.message).toMatch(/^unet\/model\.onnx: no input tensor named "sample"/);
  });

  it('a pad token missing from the vocabulary', async () => {
    const e = await loadError(
      broken((dir) =>
        writeFileSync(join(dir, 'tokenizer/special_tokens_map.json'), JSON.stringify({ pad_token: '<pad>' })),
      ),
    );
    expect(e.code).toBe('model_invalid');
    expect(e.message).toContain('pad_token "<pad>" is not in tokenizer/vocab.json');
  });

  it('CUDA requested where the provider is not installed', async () => {
    const e = await loadError(TINY_RANDOM, { runtime: { provider: 'cuda' } });
    expect(e.code).toBe('provider_unavailable');
    expect(e.message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
  });

  it('a safety model directory without its config', async () => {
    const e = await loadError(TINY_RANDOM, { safetyModelDir: join(FIXTURES, 'variants', 'unet-fp16-io') });
    expect(e.code).toBe('model_not_found');
    expect(e.message).toContain('config.json is missing');
  });
});
