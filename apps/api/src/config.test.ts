import { describe, expect, it } from 'vitest';

import { ConfigError } from '@imagegen/contracts';

import { loadApiConfig } from './config.js';

describe('loadApiConfig', () => {
  it('keeps the defaults of the API', () => {
    const config = loadApiConfig({});
    expect(config).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      REDIS_PREFIX: '{imagegen}',
      RATE_LIMIT_PER_MINUTE: 60,
      READ_RATE_LIMIT_PER_MINUTE: 1200,
      CONCURRENCY_LIMIT: 24,
      QUEUE_MAX_WAITING: 10_000,
      QUEUE_DEADLINE_MS: 600_000,
      BODY_LIMIT_BYTES: 65_536,
      MAX_WAIT_S: 60,
      IMAGEGEN_WEBHOOK_ALLOWLIST: '',
      moderation: null,
    });
    expect(config.ADMIN_API_KEY).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('throws one ConfigError naming every bad variable, the allow-list and moderation included', () => {
    const run = () =>
      loadApiConfig({
        REDIS_URL: 'nope',
        PORT: '-1',
        IMAGEGEN_WEBHOOK_ALLOWLIST: 'not a host!',
        MODERATION_BASE_URL: 'x',
        ADMIN_API_KEY: 'short',
      });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(
      /^invalid configuration:\n {2}REDIS_URL: .+\n {2}PORT: .+\n {2}IMAGEGEN_WEBHOOK_ALLOWLIST: "not a host!" is neither a host name nor an IP\/CIDR\n {2}MODERATION_BASE_URL: must be an http\(s\) URL\n {2}ADMIN_API_KEY: must be at least 32 characters$/,
    );
  });
});
