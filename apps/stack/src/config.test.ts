import { describe, expect, it } from 'vitest';

import { loadStackConfig } from './config.js';

describe('loadStackConfig', () => {
  it('leaves REDIS_URL, S3_ENDPOINT and MODEL_DIR unset (empty counts as unset) and passes the environment on', () => {
    const config = loadStackConfig({ REDIS_URL: '', S3_ENDPOINT: '', OTHER: 'x' });
    expect(config).toMatchObject({ REDIS_PREFIX: '{imagegen}', S3_PORT: 0, PORT: 8080, HOST: '127.0.0.1' });
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.S3_ENDPOINT).toBeUndefined();
    expect(config.MODEL_DIR).toBeUndefined();
    expect(config.IMAGEGEN_BOOTSTRAP_API_KEY).toBeUndefined();
    expect(config.IMAGEGEN_DATA_DIR).toMatch(/\.imagegen$/);
    expect(config.childEnv).toEqual({ REDIS_URL: '', S3_ENDPOINT: '', OTHER: 'x' });
  });

  it('names every bad variable it reads in one error', () => {
    expect(() =>
      loadStackConfig({ REDIS_URL: 'localhost:6379', S3_PORT: 'x', REDIS_PREFIX: 'a{b}c{d}' }),
    ).toThrow(/^invalid configuration:\n {2}REDIS_URL: .+\n {2}REDIS_PREFIX: .+\n {2}S3_PORT: .+$/);
  });
});
