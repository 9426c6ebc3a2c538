import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { estimateModelMemory, modelFitProblem, RUNTIME_OVERHEAD_BYTES } from './fit.js';
import { isEngineFile, isWeightFile, missingLayoutFiles, REQUIRED_FILES } from './layout.js';
import { modelIdentity, modelWeightBytes, resolveModelDir, writePullRecord } from './store.js';

const tmp = mkdtempSync(join(tmpdir(), 'imagegen-layout-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the files the engine reads', () => {
  it('takes the ONNX networks with their external data, tokenizers and configs, and nothing else', () => {
    for (const p of [
      'model_index.json',
      'imagegen.json',
      'tokenizer/vocab.json',
      'tokenizer_2/merges.txt',
      'scheduler/scheduler_config.json',
      'unet/model.onnx',
      'unet/model.onnx_data',
      'unet/weights.pb',
      'unet/config.json',
      'text_encoder_2/model.onnx',
      'safety_checker/model.onnx',
    ]) {
      expect(isEngineFile(p), p).toBe(true);
    }
    for (const p of [
      'README.md',
      '.gitattributes',
      'unet/diffusion_pytorch_model.safetensors',
      'unet/diffusion_pytorch_model.fp16.bin',
      'text_encoder/model.safetensors',
      'unet/model_fp16.onnx',
      'vae_encoder/model.onnx',
      'feature_extractor/preprocessor_config.json',
      'unet/sub/model.onnx',
      'scheduler/notes.txt',
    ]) {
      expect(isEngineFile(p), p).toBe(false);
    }
    expect(isWeightFile('unet/model.onnx_data')).toBe(true);
    expect(isWeightFile('unet/config.json')).toBe(false);
    expect(isWeightFile('tokenizer/vocab.json')).toBe(false);
  });

  it('names every required file a listing lacks, tokenizer_2 for an SDXL model', () => {
    expect(missingLayoutFiles(REQUIRED_FILES)).toEqual([]);
    expect(missingLayoutFiles(['model_index.json'])).toEqual(REQUIRED_FILES.slice(1));
    expect(missingLayoutFiles([...REQUIRED_FILES, 'text_encoder_2/model.onnx'])).toEqual([
      'tokenizer_2/vocab.json',
      'tokenizer_2/merges.txt',
      'tokenizer_2/tokenizer_config.json',
    ]);
  });
});

describe('model names and sizes', () => {
  it('resolves a path as it is, a pulled name under the models directory, and never leaves it', () => {
    const models = join(tmp, 'models');
    const pulled = join(models, 'owner', 'name');
    mkdirSync(join(pulled, 'unet'), { recursive: true });
    expect(resolveModelDir(pulled, models)).toBe(pulled);
    expect(resolveModelDir('owner/name', models)).toBe(pulled);
    expect(resolveModelDir('owner/other', models)).toBeNull();
    expect(resolveModelDir('/nonexistent/model', models)).toBeNull();
    expect(resolveModelDir('../../etc', join(models, 'owner'))).toBeNull();

    expect(modelIdentity(pulled)).toEqual({ name: 'name', revision: null });
    writePullRecord(pulled, {
      repo: 'owner/name',
      revision: 'a'.repeat(40),
      requested: 'main',
      endpoint: 'http://127.0.0.1:1',
      pulledAt: new Date(0).toISOString(),
      files: [],
    });
    expect(modelIdentity(pulled)).toEqual({ name: 'owner/name', revision: 'a'.repeat(40) });

    writeFileSync(join(pulled, 'unet/model.onnx'), Buffer.alloc(1000));
    writeFileSync(join(pulled, 'unet/model.onnx_data'), Buffer.alloc(3000));
    writeFileSync(join(pulled, 'unet/diffusion_pytorch_model.safetensors'), Buffer.alloc(9000));
    writeFileSync(join(pulled, 'unet/config.json'), '{}');
    expect(modelWeightBytes(pulled)).toBe(4000);
  });
});

describe('whether a model fits its device', () => {
  const GiB = 2 ** 30;
  it('counts the weights a quarter over plus the runtime, and says what to do when it does not fit', () => {
    expect(estimateModelMemory(4 * GiB)).toBe(5 * GiB + RUNTIME_OVERHEAD_BYTES);
    const available = { bytes: 6 * GiB, source: 'free memory of GPU 0 (nvidia-smi)' };
    expect(modelFitProblem({ weightBytes: 4 * GiB, available, provider: 'cuda' })).toBeNull();
    expect(modelFitProblem({ weightBytes: 6 * GiB, available, provider: 'cuda' })).toBe(
      'the model will not fit the GPU: its weights are 6.00 GiB, so it needs about 8.00 GiB (weights × 1.25 + ' +
        '0.50 GiB for activations and the runtime), but only 6.00 GiB is free (free memory of GPU 0 ' +
        '(nvidia-smi)). Use a smaller or fp16 export, free memory, or set MODEL_MEMORY_BYTES to the memory ' +
        'the model may use',
    );
  });
});
