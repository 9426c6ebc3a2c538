import { hostname } from 'node:os';

import { Queue, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';

import type { Job } from '@imagegen/contracts';
import type { Logger, Metrics } from '@imagegen/observability';
import {
  connectRedis,
  jobView,
  redisOptions,
  redisUrlOptions,
  WEBHOOK_QUEUE,
  webhookMessageId,
  type ApiKeyStore,
  type JobStore,
  type Presigner,
  type Redis,
  type WebhookDelivery,
  type WebhookEventKind,
} from '@imagegen/jobs';
import { deliver, retryDelay, signedHeaders, type Allowlist, type LookupFn } from '@imagegen/webhooks';

export interface WebhookSettings {
  redisUrl: string;
  prefix: string;
  allowlist: Allowlist;
  timeoutMs: number;
  /** Delays before each retry of a terminal event; its length + 1 is the number of attempts. */
  schedule: readonly number[];
  concurrency: number;
  /** Attempts for queued/started/progress events (they are soon stale). */
  intermediateAttempts: number;
  /** TLS trust and name resolution for deliveries (tests). */
  ca?: string | Buffer;
  lookup?: LookupFn;
}

const GROUP = 'dispatch';
/** Outbox entries a crashed dispatcher read but did not hand over are taken back after this long. */
const RECLAIM_IDLE_MS = 30_000;

class DeliveryFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

/**
 * Webhook delivery, from its own BullMQ queue (never from a GPU worker). Two loops:
 *  - the outbox pump moves each delivery intent that a job state change wrote to the outbox stream into
 *    the `webhooks` queue, with the `webhook-id` as the BullMQ job id (so a re-read entry is a no-op),
 *    and only then acknowledges it — a dispatcher crash in between loses nothing;
 *  - the BullMQ worker signs and POSTs each delivery, retrying on the schedule with jitter.
 */
export class WebhookDispatcher {
  private readonly queue: Queue<WebhookDelivery>;
  private readonly worker: Worker<WebhookDelivery>;
  private readonly blocking: Redis;
  private readonly consumer = `${hostname()}:${process.pid}`;
  private closed = false;
  private pump: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: WebhookSettings,
    private readonly deps: {
      redis: Redis;
      jobs: JobStore;
      apiKeys: ApiKeyStore;
      storage: Presigner;
      metrics: Metrics;
      logger: Logger;
    },
  ) {
    const connection = { ...redisOptions('worker'), ...redisUrlOptions(settings.redisUrl) };
    const prefix = `${settings.prefix}:bull`;
    this.queue = new Queue<WebhookDelivery>(WEBHOOK_QUEUE, { connection, prefix });
    this.worker = new Worker<WebhookDelivery>(WEBHOOK_QUEUE, (job) => this.attempt(job), {
      connection,
      prefix,
      concurrency: settings.concurrency,
      autorun: false,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
          retryDelay(
            settings.schedule,
            attemptsMade,
            0.2,
            err instanceof DeliveryFailure ? (err.retryAfterMs ?? 0) : 0,
          ),
      },
    });
    this.worker.on('error', (err) => deps.logger.warn({ err: err.message }, 'webhook worker error'));
    this.blocking = connectRedis(settings.redisUrl, 'worker');
    this.blocking.on('error', () => undefined);
  }

  async start(): Promise<void> {
    const outbox = this.deps.jobs.keys.webhookOutbox();
    try {
      // From the stream's start: intents written before any dispatcher existed are delivered too.
      await this.deps.redis.xgroup('CREATE', outbox, GROUP, '0', 'MKSTREAM');
    } catch (e) {
      if (!String(e).includes('BUSYGROUP')) throw e;
    }
    void this.worker.run();
    await this.worker.waitUntilReady();
    this.pump = this.runPump(outbox);
  }

  private async runPump(outbox: string): Promise<void> {
    while (!this.isClosed()) {
      try {
        const [, claimed] = (await this.deps.redis.xautoclaim(
          outbox,
          GROUP,
          this.consumer,
          RECLAIM_IDLE_MS,
          '0-0',
          'COUNT',
          100,
        )) as [string, [string, string[]][]];
        await this.handOver(outbox, claimed);
        const read = (await this.blocking.xreadgroup(
          'GROUP',
          GROUP,
          this.consumer,
          'COUNT',
          100,
          'BLOCK',
          1000,
          'STREAMS',
          outbox,
          '>',
        )) as [string, [string, string[]][]][] | null;
        if (read?.[0]) await this.handOver(outbox, read[0][1]);
      } catch (err) {
        if (this.isClosed()) return;
        this.deps.logger.warn({ err: (err as Error).message }, 'webhook outbox read failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Enqueues each intent as a delivery (idempotently), then removes it from the outbox. */
  private async handOver(outbox: string, entries: [string, string[]][]): Promise<void> {
    for (const [entryId, flat] of entries) {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
      const jobId = f['job'] ?? '';
      const kind = f['type'] as WebhookEventKind;
      const eventId = f['event'] ?? '';
      const record = jobId ? await this.deps.jobs.get(jobId) : null;
      if (record?.webhook) {
        const terminal = kind === 'completed';
        const snapshot: Job | null = terminal
          ? await jobView(record, this.deps.jobs, this.deps.storage)
          : null;
        await this.queue.add(
          'deliver',
          { jobId, keyId: record.keyId, url: record.webhook.url, kind, eventId, snapshot },
          {
            jobId: webhookMessageId(jobId, eventId),
            attempts: terminal ? this.settings.schedule.length + 1 : this.settings.intermediateAttempts,
            backoff: { type: 'webhook' },
            removeOnComplete: { age: 86_400, count: 10_000 },
            removeOnFail: { age: 7 * 86_400, count: 10_000 },
          },
        );
      }
      await this.deps.redis.multi().xack(outbox, GROUP, entryId).xdel(outbox, entryId).exec();
    }
  }

  /** One delivery attempt: rebuild the job object (fresh presigned URL), sign, POST, log on the job. */
  private async attempt(job: BullJob<WebhookDelivery>): Promise<void> {
    const { jobs, apiKeys, storage, metrics, logger } = this.deps;
    const d = job.data;
    const terminal = d.kind === 'completed';
    const record = await jobs.get(d.jobId);
    let data: Job | null = record ? await jobView(record, jobs, storage) : d.snapshot;
    if (!record && data) {
      // Purged record: the image is long gone too.
      const output = data.output ? { ...data.output, url: null, expired: true } : null;
      data = { ...data, output, image_url: null };
    }
    if (!data) return;
    const type = terminal ? `image.generation.${data.status}` : `image.generation.${d.kind}`;
    const at = Number(d.eventId.split('-')[0]);
    const body = JSON.stringify({ type, timestamp: new Date(at).toISOString(), data });
    const secrets = await apiKeys.webhookSecrets(d.keyId);
    if (secrets.length === 0) throw new UnrecoverableError('the API key of this job no longer exists');
    const id = job.id ?? webhookMessageId(d.jobId, d.eventId);
    const started = performance.now();
    const result = await deliver({
      url: d.url,
      body,
      headers: signedHeaders(secrets, id, Math.floor(Date.now() / 1000), body),
      allowlist: this.settings.allowlist,
      timeoutMs: this.settings.timeoutMs,
      ...(this.settings.ca ? { ca: this.settings.ca } : {}),
      ...(this.settings.lookup ? { lookup: this.settings.lookup } : {}),
    });
    metrics.webhookDuration.observe((performance.now() - started) / 1000);
    const now = Date.now();
    const attemptNo = job.attemptsMade + 1;
    const last = attemptNo >= (job.opts.attempts ?? 1);
    if (result.ok) {
      metrics.webhookDeliveries.inc({ outcome: 'delivered' });
      await jobs.recordWebhookAttempt(d.jobId, {
        terminal,
        status: 'delivered',
        error: null,
        at: now,
        deliveredAt: now,
      });
      logger.info({ jobId: d.jobId, webhookId: id, attempt: attemptNo, type }, 'webhook delivered');
      return;
    }
    const giveUp = result.permanent || last;
    metrics.webhookDeliveries.inc({ outcome: giveUp ? 'failed' : 'retry' });
    await jobs.recordWebhookAttempt(d.jobId, {
      terminal,
      status: giveUp ? 'failed' : 'retrying',
      error: result.error,
      at: now,
      deliveredAt: null,
    });
    logger.warn(
      { jobId: d.jobId, webhookId: id, attempt: attemptNo, status: result.status, giveUp },
      `webhook delivery failed: ${result.error}`,
    );
    if (result.permanent) throw new UnrecoverableError(result.error);
    throw new DeliveryFailure(result.error, result.retryAfterMs);
  }

  /** Read through a method: the flag changes while the pump awaits. */
  private isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.blocking.disconnect();
    await this.pump;
    await this.worker.close();
    await this.queue.close();
  }
}
