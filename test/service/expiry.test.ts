import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadDispatcherConfig, startDispatcher, type RunningDispatcher } from '@imagegen/dispatcher';
import { verifyWebhook } from '@imagegen/webhooks';

import { until } from '../support/processes.js';
import { startReceiver } from '../support/receiver.js';
import { client, startStack, type TestStack } from '../support/stack.js';

// No worker at all: only the dispatcher can end these jobs.
let stack: TestStack;
let dispatcher: RunningDispatcher;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  stack = await startStack({
    workers: 0,
    env: { QUEUE_DEADLINE_MS: '1000', IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1', EXPIRE_INTERVAL_MS: '200' },
  });
  receiver = await startReceiver();
  dispatcher = await startDispatcher(loadDispatcherConfig(stack.env));
});
afterAll(async () => {
  await dispatcher.close();
  await receiver.close();
  await stack.stop();
});

describe('queue deadline without any worker', () => {
  it('ends waiting jobs as expired and announces it, so no client waits forever', async () => {
    const api = client(stack);
    const a = await api('/v1/images/generations', {
      body: { prompt: 'a red circle', webhook_url: receiver.url },
    });
    const b = await api('/v1/images/generations', { body: { prompt: 'a blue square' } });
    expect([a.status, b.status]).toEqual([202, 202]);
    const waited = await api(`/v1/images/generations/${String(b.json['id'])}?wait=30`);
    expect(waited.json).toMatchObject({
      status: 'expired',
      success: false,
      error: { code: 'expired', retryable: true },
      queue_position: null,
    });
    const d = await until('the expired webhook', () => receiver.deliveries[0]);
    const body = verifyWebhook(d.headers, d.body, stack.webhookSecret) as {
      type: string;
      data: { id: string; status: string };
    };
    expect(body).toMatchObject({
      type: 'image.generation.expired',
      data: { id: a.json['id'], status: 'expired' },
    });
    // The concurrency slots are free again.
    const c = await api('/v1/images/generations', { body: { prompt: 'again' } });
    expect(c.status).toBe(202);
  });
});
