import { hostname } from 'node:os';

import { RedisApiKeyRepository } from '@imagegen/access';
import {
  BullGenerationQueue,
  connectRedis,
  createConsumer,
  OutboxReader,
  RedisJobRepository,
  waitReady,
  WebhookQueue,
} from '@imagegen/jobs';
import {
  createLogger,
  createMetrics,
  startOpsServer,
  type Logger,
  type Metrics,
} from '@imagegen/observability';
import { storageFromEnv } from '@imagegen/storage';
import { deliver, parseAllowlist, retryDelay, type LookupFn } from '@imagegen/webhooks';

import type { DispatcherConfig } from './config.js';
import { createDispatcher } from './create-dispatcher.js';
import { DeliveryGate } from './delivery-gate.js';
import { DeliveryFailure } from './webhook-delivery.js';

export interface RunningDispatcher {
  logger: Logger;
  /** Port of /healthz, /readyz and /metrics. */
  port: number;
  metrics: Metrics;
  /** One sweep now; resolves to the number of images deleted. */
  sweepOnce: () => Promise<number>;
  /** Hands left-behind enqueue intents to the queue now; resolves to how many. */
  enqueueLeftBehindOnce: () => Promise<number>;
  /** Stops every loop and closes every connection. Idempotent. */
  close: () => Promise<void>;
}

/** Test seams for deliveries: TLS trust and name resolution. */
export interface DispatcherTesting {
  ca?: string | Buffer;
  lookup?: LookupFn;
}

/**
 * The background process: the webhook outbox pump and deliveries, enqueue intents left behind, expiry of
 * overdue queued jobs, and the sweep of expired images. Any number may run; work is shared through Redis.
 */
export async function startDispatcher(
  config: DispatcherConfig,
  testing: DispatcherTesting = {},
): Promise<RunningDispatcher> {
  const logger = createLogger('dispatcher', config.LOG_LEVEL);
  const metrics = createMetrics('dispatcher');
  const prefix = config.REDIS_PREFIX;
  const storage = storageFromEnv(config);
  await storage.ensureBucket();
  const redis = connectRedis(config.redis, 'worker');
  const blocking = connectRedis(config.redis, 'worker');
  for (const c of [redis, blocking])
    c.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
  await waitReady(redis, 30_000);
  const onQueueError = (err: Error) => logger.warn({ err: err.message }, 'queue error');
  const generations = new BullGenerationQueue(redis, prefix, onQueueError);
  // An expiry or a reaped job frees its key's slot: the key's next held job is enqueued at once.
  const jobs = new RedisJobRepository(redis, {
    prefix,
    retentionSeconds: config.JOB_RETENTION_S,
    enqueueReleased: ({ id, keyId, objectKey, priority }) =>
      generations.enqueue({ id, keyId, objectKey }, priority),
  });
  const deliveries = new WebhookQueue(redis, prefix, onQueueError);

  const reader = new OutboxReader(redis, blocking, prefix, `${hostname()}:${process.pid}`);
  await reader.ensureGroup();
  const allowlist = parseAllowlist(config.IMAGEGEN_WEBHOOK_ALLOWLIST);
  const gate = new DeliveryGate({
    perTarget: config.WEBHOOK_TARGET_CONCURRENCY,
    perKey: config.WEBHOOK_KEY_CONCURRENCY,
    failuresToOpen: config.WEBHOOK_CIRCUIT_FAILURES,
    cooldownMs: config.WEBHOOK_CIRCUIT_COOLDOWN_MS,
    maxCooldownMs: Math.max(600_000, config.WEBHOOK_CIRCUIT_COOLDOWN_MS),
  });
  const { pump, janitor, handlers } = createDispatcher({
    jobs,
    reader,
    generations,
    deliveries,
    apiKeys: new RedisApiKeyRepository(redis, prefix),
    storage,
    metrics,
    logger,
    retrySchedule: config.WEBHOOK_RETRY_SCHEDULE,
    gate,
    intentGraceMs: config.ENQUEUE_GRACE_MS,
    deliver: (req) =>
      deliver({
        ...req,
        allowlist,
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        ...(testing.ca ? { ca: testing.ca } : {}),
        ...(testing.lookup ? { lookup: testing.lookup } : {}),
      }),
  });
  const consumer = createConsumer('deliverWebhook', handlers.deliverWebhook, {
    connection: redis,
    prefix,
    concurrency: config.WEBHOOK_CONCURRENCY,
    backoff: (attemptsMade, _type, err) =>
      retryDelay(
        config.WEBHOOK_RETRY_SCHEDULE,
        attemptsMade,
        0.2,
        err instanceof DeliveryFailure ? (err.retryAfterMs ?? 0) : 0,
      ),
    onError: (err) => logger.warn({ err: err.message }, 'webhook worker error'),
  });
  await consumer.waitUntilReady();
  pump.start();

  const warnOnFailure = (what: string) => (err: unknown) => {
    logger.warn({ err, duty: what }, 'dispatcher duty failed; retrying at the next interval');
    return 0;
  };
  const sweepOnce = () => janitor.sweep().catch(warnOnFailure('sweep'));
  const enqueueLeftBehindOnce = () => janitor.enqueueLeftBehind().catch(warnOnFailure('enqueue'));
  const timers = [
    setInterval(() => void sweepOnce(), config.SWEEP_INTERVAL_MS),
    setInterval(() => {
      metrics.webhookCircuitsOpen.set(gate.openCircuits());
      void janitor.expireOverdue().catch(warnOnFailure('expire'));
      void janitor.reapOrphans().catch(warnOnFailure('orphans'));
      void enqueueLeftBehindOnce();
    }, config.EXPIRE_INTERVAL_MS),
  ];
  void sweepOnce();
  const ops = await startOpsServer({
    port: config.DISPATCHER_PORT,
    host: config.HOST,
    metrics,
    ready: () => redis.status === 'ready',
    onScrape: () => metrics.redisUp.set(redis.status === 'ready' ? 1 : 0),
  });
  logger.info(
    {
      sweepEveryMs: config.SWEEP_INTERVAL_MS,
      webhookAttempts: config.WEBHOOK_RETRY_SCHEDULE.length + 1,
      webhookConcurrency: config.WEBHOOK_CONCURRENCY,
    },
    'dispatcher started',
  );
  let closing: Promise<void> | undefined;
  return {
    logger,
    port: ops.port,
    metrics,
    sweepOnce,
    enqueueLeftBehindOnce,
    close: () => {
      closing ??= (async () => {
        for (const t of timers) clearInterval(t);
        blocking.disconnect();
        // Every step runs even when one fails.
        await pump.close();
        await Promise.allSettled([consumer.close(), generations.close(), deliveries.close(), ops.close()]);
        await redis.quit().catch(() => undefined);
      })();
      return closing;
    },
  };
}
