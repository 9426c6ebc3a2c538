import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { ConfigError } from '@imagegen/contracts';

import { checkModelFits } from './model-fit.js';

const fixture = fileURLToPath(new URL('../../../packages/engine/fixtures/tiny-random', import.meta.url));
const config = { MODEL_DIR: fixture, MODEL_MEMORY_BYTES: 0, ORT_PROVIDER: 'cuda' as const, ORT_DEVICE_ID: 1 };

describe('checkModelFits', () => {
  it('reads the free memory of the configured device and passes a model that fits', () => {
    const asked: unknown[] = [];
    const fit = checkModelFits(config, (provider, deviceId) => {
      asked.push([provider, deviceId]);
      return { bytes: 2 ** 30, source: 'test' };
    });
    expect(asked).toEqual([['cuda', 1]]);
    expect(fit?.weightBytes).toBeGreaterThan(100_000);
  });

  it('refuses with a ConfigError on MODEL_DIR naming the need and the memory, before anything loads', () => {
    const refuse = () =>
      checkModelFits(config, () => ({ bytes: 300 * 2 ** 20, source: 'free memory of GPU 1 (nvidia-smi)' }));
    expect(refuse).toThrow(ConfigError);
    expect(refuse).toThrow(
      /MODEL_DIR: the model will not fit the GPU: .+only 0\.29 GiB is free \(free memory of GPU 1 \(nvidia-smi\)\)/,
    );
  });

  it('MODEL_MEMORY_BYTES overrides what the device reports; unknown memory skips the check', () => {
    const never = () => {
      throw new Error('not read');
    };
    expect(() => checkModelFits({ ...config, MODEL_MEMORY_BYTES: 1000 }, never)).toThrow(
      /\(MODEL_MEMORY_BYTES\)/,
    );
    expect(checkModelFits(config, () => null)).toBeNull();
  });
});
