import { describe, expect, it } from 'vitest';

import { DEFAULT_RETRY_SCHEDULE_MS } from '@imagegen/webhooks';

import { loadDispatcherConfig } from './config.js';

describe('loadDispatcherConfig', () => {
  it('keeps the defaults of the dispatcher', () => {
    expect(loadDispatcherConfig({})).toMatchObject({
      DISPATCHER_PORT: 9091,
      HOST: '0.0.0.0',
      SWEEP_INTERVAL_MS: 60_000,
      EXPIRE_INTERVAL_MS: 5000,
      WEBHOOK_TIMEOUT_MS: 15_000,
      WEBHOOK_RETRY_SCHEDULE: DEFAULT_RETRY_SCHEDULE_MS,
      WEBHOOK_CONCURRENCY: 16,
      REDIS_PREFIX: '{imagegen}',
    });
  });

  it('names a bad retry schedule and a bad allow-list in one error', () => {
    expect(() =>
      loadDispatcherConfig({ WEBHOOK_RETRY_SCHEDULE: 'soon', IMAGEGEN_WEBHOOK_ALLOWLIST: '10.0.0.0/99' }),
    ).toThrow(/IMAGEGEN_WEBHOOK_ALLOWLIST: .*not a valid CIDR range\n {2}WEBHOOK_RETRY_SCHEDULE: /);
  });
});
