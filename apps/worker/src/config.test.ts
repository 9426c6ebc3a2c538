import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { BUNDLED_MODEL_DIR, CPU_BATCH_MAX, GPU_BATCH_MAX, loadWorkerConfig } from './config.js';

describe('loadWorkerConfig', () => {
  it('keeps the defaults of the worker', () => {
    // MODEL_DIR defaults to the bundled model; point it at an existing directory either way.
    expect(loadWorkerConfig({ MODEL_DIR: '.' })).toMatchObject({
      WORKER_PORT: 9090,
      HOST: '0.0.0.0',
      ORT_PROVIDER: 'cpu',
      ORT_DEVICE_ID: 0,
      ORT_INTRA_OP_THREADS: 0,
      WORKER_CONCURRENCY: 1,
      BATCH_MAX: CPU_BATCH_MAX,
      BATCH_WAIT_MS: 0,
      JOB_TIMEOUT_MS: 300_000,
      WORKER_LOCK_MS: 30_000,
      WORKER_STALLED_INTERVAL_MS: 30_000,
      WORKER_SHUTDOWN_MS: 30_000,
      upsampler: { kind: 'rules' },
      moderation: null,
    });
    expect(BUNDLED_MODEL_DIR).toMatch(/packages[/\\]tiny-model[/\\]model$/);
  });

  it('BATCH_MAX defaults by provider, an explicit value wins, and a bad one is named', () => {
    expect(loadWorkerConfig({ MODEL_DIR: '.', ORT_PROVIDER: 'cuda' }).BATCH_MAX).toBe(GPU_BATCH_MAX);
    expect(GPU_BATCH_MAX).toBe(4);
    const set = loadWorkerConfig({ MODEL_DIR: '.', BATCH_MAX: '3', BATCH_WAIT_MS: '25' });
    expect([set.BATCH_MAX, set.BATCH_WAIT_MS]).toEqual([3, 25]);
    expect(() => loadWorkerConfig({ MODEL_DIR: '.', BATCH_MAX: '0' })).toThrow(/BATCH_MAX/);
    expect(() => loadWorkerConfig({ MODEL_DIR: '.', BATCH_WAIT_MS: '-1' })).toThrow(/BATCH_WAIT_MS/);
  });

  it('UPSCALER names each shipped ESRGAN (esrgan-thick included) by its directory, lanczos as none', () => {
    for (const name of ['esrgan-slim', 'esrgan-medium', 'esrgan-thick']) {
      expect(loadWorkerConfig({ MODEL_DIR: '.', UPSCALER: name }).upscalerDir).toMatch(
        new RegExp(`packages[/\\\\]networks[/\\\\]models[/\\\\]${name}$`),
      );
    }
    expect(loadWorkerConfig({ MODEL_DIR: '.', UPSCALER: 'lanczos' }).upscalerDir).toBe(false);
    expect(() => loadWorkerConfig({ MODEL_DIR: '.', UPSCALER: 'esrgan-huge' })).toThrow(
      /UPSCALER must be esrgan-slim, esrgan-medium, esrgan-thick, lanczos or an existing network directory/,
    );
  });

  it('names a missing model, an llm upsampler without its URL and a bad shared variable together', () => {
    expect(() =>
      loadWorkerConfig({
        MODEL_DIR: '/nonexistent/model',
        PROMPT_UPSAMPLER: 'llm',
        UPSAMPLER_MODEL: 'qwen',
        S3_BUCKET: 'No_Such',
      }),
    ).toThrow(
      /S3_BUCKET: .+\n {2}MODEL_DIR: MODEL_DIR is neither a directory nor a model pulled into .+\n {2}UPSAMPLER_BASE_URL: is required when PROMPT_UPSAMPLER=llm$/,
    );
  });

  it('MODEL_DIR takes the name of a pulled model, under IMAGEGEN_MODELS_DIR or IMAGEGEN_DATA_DIR/models', () => {
    const data = mkdtempSync(join(tmpdir(), 'imagegen-worker-config-'));
    try {
      const pulled = join(data, 'models', 'owner', 'name');
      mkdirSync(pulled, { recursive: true });
      expect(loadWorkerConfig({ MODEL_DIR: 'owner/name', IMAGEGEN_DATA_DIR: data })).toMatchObject({
        MODEL_DIR: pulled,
        IMAGEGEN_MODELS_DIR: join(data, 'models'),
        MODEL_MEMORY_BYTES: 0,
      });
      expect(
        loadWorkerConfig({ MODEL_DIR: 'owner/name', IMAGEGEN_MODELS_DIR: join(data, 'models') }).MODEL_DIR,
      ).toBe(pulled);
      expect(() => loadWorkerConfig({ MODEL_DIR: 'owner/other', IMAGEGEN_DATA_DIR: data })).toThrow(
        `MODEL_DIR: MODEL_DIR is neither a directory nor a model pulled into ${join(data, 'models')}`,
      );
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
