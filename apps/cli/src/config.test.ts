import { describe, expect, it } from 'vitest';

import { loadCliConfig } from './config.js';

describe('loadCliConfig', () => {
  it('leaves REDIS_URL and REDIS_PREFIX unset so the running stack’s values can apply', () => {
    const config = loadCliConfig({ REDIS_URL: '' });
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.REDIS_PREFIX).toBeUndefined();
    expect(config.IMAGEGEN_DATA_DIR).toMatch(/\.imagegen$/);
    expect(loadCliConfig({ REDIS_URL: 'redis://h:1', REDIS_PREFIX: 'x:{y}' })).toMatchObject({
      REDIS_URL: 'redis://h:1',
      REDIS_PREFIX: 'x:{y}',
    });
  });

  it('names a bad REDIS_URL and REDIS_PREFIX together', () => {
    expect(() => loadCliConfig({ REDIS_URL: 'h:1', REDIS_PREFIX: '{}' })).toThrow(
      /REDIS_URL: .+\n {2}REDIS_PREFIX: /,
    );
  });
});
