import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { describe, expect, it } from 'vitest';

import type { Job, WebhookDelivery } from '@imagegen/contracts';
import { jobView, webhookMessageId, type ConsumedJob } from '@imagegen/jobs';
import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createLogger, createMetrics } from '@imagegen/observability';
import {
  deliver,
  generateWebhookSecret,
  parseAllowlist,
  verifyWebhook,
  type DeliveryResult,
  type LookupFn,
} from '@imagegen/webhooks';

import { FakeApiKeys, FakeStorage, seedJob, silentLogger } from '../../../test/support/fakes.js';
import { DeliveryGate, targetOf } from './delivery-gate.js';
import { deliverWebhook, DeliveryFailure } from './webhook-delivery.js';

const NOW = 1_700_000_100_000;
const EVENT_ID = '1700000000000-0';
const HOOK = { url: 'https://hooks.example.com/x', events: ['completed' as const] };

interface Sent {
  url: string;
  body: string;
  headers: Record<string, string>;
}

function world(result: DeliveryResult = { ok: true, status: 204 }) {
  const jobs = new MemoryJobRepository();
  const apiKeys = new FakeApiKeys();
  const secret = generateWebhookSecret();
  apiKeys.webhook.set('key1', [secret]);
  const storage = new FakeStorage();
  const sent: Sent[] = [];
  const deps = {
    jobs,
    apiKeys,
    storage,
    metrics: createMetrics('dispatcher'),
    logger: silentLogger(),
    deliver: (req: Sent) => {
      sent.push(req);
      return Promise.resolve(result);
    },
    now: () => NOW,
  };
  return { jobs, apiKeys, storage, secret, sent, deps };
}

/** A succeeded job with a webhook. */
async function succeeded(jobs: MemoryJobRepository) {
  const job = await seedJob(jobs, { webhook: HOOK });
  await jobs.start(job.id, 1, 'host:1');
  await jobs.finish(job.id, job.keyId, 'succeeded', {
    image: { key: job.objectKey, bytes: 10, width: 64, height: 64, format: 'jpeg', revised_prompt: null },
  });
  return job;
}

const delivery = (
  jobId: string,
  over: Partial<WebhookDelivery> = {},
  attempt: { attemptsMade?: number; maxAttempts?: number } = {},
): ConsumedJob<'deliverWebhook'> => ({
  id: webhookMessageId(jobId, EVENT_ID),
  data: {
    jobId,
    keyId: 'key1',
    url: HOOK.url,
    kind: 'completed',
    eventId: EVENT_ID,
    snapshot: null,
    ...over,
  },
  attemptsMade: attempt.attemptsMade ?? 0,
  stalledCounter: 0,
  maxAttempts: attempt.maxAttempts ?? 3,
  defer: (ms) => Promise.reject(new Deferred(ms)),
});

/** What `defer` throws here (BullMQ's DelayedError in production). */
class Deferred extends Error {
  constructor(readonly ms: number) {
    super(`deferred ${ms} ms`);
  }
}

const failed = (over: Partial<Extract<DeliveryResult, { ok: false }>> = {}): DeliveryResult => ({
  ok: false,
  status: 503,
  error: 'http_status',
  detail: 'HTTP 503',
  permanent: false,
  retryAfterMs: null,
  ...over,
});

describe('deliverWebhook', () => {
  it('posts the signed job event and records the delivery on the job', async () => {
    const { jobs, secret, sent, deps } = world();
    const job = await succeeded(jobs);
    await deliverWebhook(deps, delivery(job.id));
    expect(sent).toHaveLength(1);
    const req = sent[0]!;
    expect(req.url).toBe(HOOK.url);
    expect(req.headers['webhook-id']).toBe(webhookMessageId(job.id, EVENT_ID));
    // What a receiver does: check the signature over the raw body with its secret.
    const payload = verifyWebhook(req.headers, req.body, secret, { now: NOW }) as {
      type: string;
      timestamp: string;
      data: Job;
    };
    expect(payload.type).toBe('image.generation.succeeded');
    expect(payload.timestamp).toBe(new Date(1_700_000_000_000).toISOString());
    expect(payload.data).toMatchObject({ id: job.id, status: 'succeeded', output: { expired: false } });
    expect(payload.data.image_url).toMatch(/^https:\/\/images\.test\//);
    expect(jobs.webhookAttempts).toEqual([
      {
        id: job.id,
        attempt: { terminal: true, status: 'delivered', error: null, at: NOW, deliveredAt: NOW },
      },
    ]);
  });

  it('signs with both secrets while a rotated one is in its grace period', async () => {
    const { jobs, apiKeys, secret, sent, deps } = world();
    const next = generateWebhookSecret();
    apiKeys.webhook.set('key1', [next, secret]);
    const job = await succeeded(jobs);
    await deliverWebhook(deps, delivery(job.id));
    const req = sent[0]!;
    for (const s of [next, secret])
      expect(() => verifyWebhook(req.headers, req.body, s, { now: NOW })).not.toThrow();
    expect(() => verifyWebhook(req.headers, req.body, generateWebhookSecret(), { now: NOW })).toThrow();
  });

  it('names an intermediate event by its kind', async () => {
    const { jobs, secret, sent, deps } = world();
    const job = await seedJob(jobs, { webhook: { url: HOOK.url, events: ['started'] } });
    await jobs.start(job.id, 1, 'host:1');
    await deliverWebhook(deps, delivery(job.id, { kind: 'started' }));
    const payload = verifyWebhook(sent[0]!.headers, sent[0]!.body, secret, { now: NOW }) as { type: string };
    expect(payload.type).toBe('image.generation.started');
    expect(jobs.webhookAttempts[0]!.attempt.terminal).toBe(false);
  });

  it('throws a retryable DeliveryFailure carrying Retry-After when attempts remain', async () => {
    const { jobs, deps } = world(failed({ status: 429, detail: 'HTTP 429', retryAfterMs: 7000 }));
    const job = await succeeded(jobs);
    const err: unknown = await deliverWebhook(deps, delivery(job.id)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryFailure);
    expect(err).toMatchObject({ retryAfterMs: 7000, retryable: true, message: 'http_status: HTTP 429' });
    expect(jobs.webhookAttempts.map((a) => a.attempt)).toEqual([
      { terminal: true, status: 'retrying', error: 'http_status', at: NOW, deliveredAt: null },
    ]);
  });

  it('gives up at once on a permanent refusal (410 Gone), recording the failure', async () => {
    const { jobs, deps } = world(failed({ status: 410, detail: 'HTTP 410', permanent: true }));
    const job = await succeeded(jobs);
    await expect(deliverWebhook(deps, delivery(job.id))).resolves.toBeUndefined();
    expect(jobs.webhookAttempts.map((a) => a.attempt.status)).toEqual(['failed']);
  });

  it('gives up after the last attempt, recording the failure', async () => {
    const { jobs, deps } = world(failed());
    const job = await succeeded(jobs);
    await expect(
      deliverWebhook(deps, delivery(job.id, {}, { attemptsMade: 2, maxAttempts: 3 })),
    ).resolves.toBeUndefined();
    expect(jobs.webhookAttempts.map((a) => a.attempt)).toEqual([
      { terminal: true, status: 'failed', error: 'http_status', at: NOW, deliveredAt: null },
    ]);
  });

  it('sends the snapshot of a purged job, without an image URL', async () => {
    const { jobs, storage, secret, sent, deps } = world();
    const job = await succeeded(jobs);
    const snapshot = await jobView((await jobs.get(job.id))!, jobs, storage);
    expect(snapshot.image_url).not.toBeNull();
    jobs.hashes.delete(job.id);
    await deliverWebhook(deps, delivery(job.id, { snapshot }));
    const payload = verifyWebhook(sent[0]!.headers, sent[0]!.body, secret, { now: NOW }) as { data: Job };
    expect(payload.data).toMatchObject({
      id: job.id,
      status: 'succeeded',
      image_url: null,
      output: { url: null, expired: true, width: 64 },
    });
    // Nothing to log the attempt on.
    expect(jobs.webhookAttempts).toEqual([]);
  });

  it('delivers nothing for a purged job without a snapshot', async () => {
    const { sent, deps } = world();
    await deliverWebhook(deps, delivery('gen_purged', { kind: 'started' }));
    expect(sent).toEqual([]);
  });

  it('delivers nothing once the API key (and so its secrets) is gone', async () => {
    const { jobs, apiKeys, sent, deps } = world();
    apiKeys.webhook.delete('key1');
    const job = await succeeded(jobs);
    await expect(deliverWebhook(deps, delivery(job.id))).resolves.toBeUndefined();
    expect(sent).toEqual([]);
    expect(jobs.webhookAttempts).toEqual([]);
  });
});

describe('delivery logs', () => {
  it('name the job and the webhook-id of a failed delivery, never its target', async () => {
    const lines: string[] = [];
    const logger = createLogger('dispatcher', 'info', { write: (l: string) => lines.push(l) });
    const target = 'hooks.internal-name.test';
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const cases: [string, LookupFn][] = [
      // A name that now resolves to loopback (refused at connect), and an allow-listed closed port.
      [`https://${target}:8443/x`, (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }])],
      [`http://127.0.0.1:${closed}/x`, (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }])],
    ];
    for (const [url, lookup] of cases) {
      const { jobs, deps } = world();
      const job = await seedJob(jobs, { webhook: { url, events: ['completed'] } });
      await jobs.start(job.id, 1, 'host:1');
      await jobs.finish(job.id, job.keyId, 'failed', {
        error: { code: 'timeout', message: 'x', retryable: false },
      });
      const real = {
        ...deps,
        logger,
        deliver: (req: { url: string; body: string; headers: Record<string, string> }) =>
          deliver({ ...req, allowlist: parseAllowlist('127.0.0.1'), lookup }),
      };
      await deliverWebhook(real, delivery(job.id, { url }, { attemptsMade: 2, maxAttempts: 3 }));
      const line = lines.at(-1)!;
      expect(JSON.parse(line)).toMatchObject({
        msg: 'webhook delivery failed',
        jobId: job.id,
        webhookId: webhookMessageId(job.id, EVENT_ID),
      });
      for (const leak of [target, '127.0.0.1', String(closed), '8443', url]) expect(line).not.toContain(leak);
    }
  });
});

describe('the delivery gate (issue 17, finding 1)', () => {
  it('defers a delivery whose target is busy: no attempt, nothing recorded, back in the queue', async () => {
    const w = world();
    const job = await succeeded(w.jobs);
    const gate = new DeliveryGate(
      { perTarget: 1, perKey: 4, failuresToOpen: 5, cooldownMs: 1000, maxCooldownMs: 4000 },
      () => 0.5,
    );
    const held = gate.admit(targetOf(HOOK.url), 'other-key'); // another delivery to the same target
    expect(held.ok).toBe(true);
    const deferral = await deliverWebhook({ ...w.deps, gate }, delivery(job.id)).catch((e: unknown) => e);
    expect(deferral).toBeInstanceOf(Deferred);
    expect((deferral as Deferred).ms).toBe(500);
    expect(w.sent).toHaveLength(0);
    expect((await w.jobs.get(job.id))!.webhookState?.attempts).toBe(0);
  });

  it('parks a failing target after failures in a row, then lets one probe through after the cool-down', async () => {
    const w = world(failed());
    const job = await succeeded(w.jobs);
    const gate = new DeliveryGate(
      { perTarget: 4, perKey: 4, failuresToOpen: 2, cooldownMs: 60_000, maxCooldownMs: 60_000 },
      () => 0.5,
    );
    const deps = { ...w.deps, gate };
    for (let i = 0; i < 2; i++) {
      await expect(deliverWebhook(deps, delivery(job.id, {}, { maxAttempts: 9 }))).rejects.toBeInstanceOf(
        DeliveryFailure,
      );
    }
    expect(w.sent).toHaveLength(2);
    await expect(deliverWebhook(deps, delivery(job.id, {}, { maxAttempts: 9 }))).rejects.toBeInstanceOf(
      Deferred,
    );
    expect(w.sent).toHaveLength(2); // parked: no third attempt
  });
});
