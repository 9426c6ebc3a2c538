import {
  createLogger,
  createMetrics,
  startOpsServer,
  type Logger,
  type Metrics,
} from '@imagegen/observability';
import { ApiKeyStore, connectRedis, generationQueue, JobStore, waitReady } from '@imagegen/jobs';
import { storageFromEnv } from '@imagegen/storage';
import { parseAllowlist, type LookupFn } from '@imagegen/webhooks';

import type { DispatcherConfig } from './config.js';
import { WebhookDispatcher } from './webhooks.js';

export interface RunningDispatcher {
  logger: Logger;
  /** Port of /healthz, /readyz and /metrics. */
  port: number;
  metrics: Metrics;
  /** One sweep now; resolves to the number of images deleted. */
  sweepOnce: () => Promise<number>;
  close: () => Promise<void>;
}

/**
 * The background process: delivers webhooks, and deletes stored images older than IMAGE_TTL_MS every
 * SWEEP_INTERVAL_MS (S3 lifecycle rules count in whole days, so this sweep is what enforces the one-hour
 * life; the bucket rule is only a safety net).
 */
export async function startDispatcher(
  config: DispatcherConfig,
  testing: { ca?: string | Buffer; lookup?: LookupFn } = {},
): Promise<RunningDispatcher> {
  const logger = createLogger('dispatcher', config.LOG_LEVEL);
  const metrics = createMetrics('dispatcher');
  const storage = storageFromEnv(config);
  await storage.ensureBucket();
  const redis = connectRedis(config.REDIS_URL, 'worker');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  await waitReady(redis, 30_000);
  const jobs = new JobStore(redis, config.REDIS_PREFIX, config.JOB_RETENTION_S);
  const webhooks = new WebhookDispatcher(
    {
      redisUrl: config.REDIS_URL,
      prefix: config.REDIS_PREFIX,
      allowlist: parseAllowlist(config.IMAGEGEN_WEBHOOK_ALLOWLIST),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      schedule: config.WEBHOOK_RETRY_SCHEDULE,
      concurrency: config.WEBHOOK_CONCURRENCY,
      intermediateAttempts: 3,
      ...testing,
    },
    { redis, jobs, apiKeys: new ApiKeyStore(redis, config.REDIS_PREFIX), storage, metrics, logger },
  );
  await webhooks.start();
  const ops = await startOpsServer({
    port: config.DISPATCHER_PORT,
    host: config.HOST,
    metrics,
    ready: () => redis.status === 'ready',
  });

  let running: Promise<number> | null = null;
  const sweepOnce = () => {
    running ??= storage
      .sweep()
      .then((n) => {
        if (n > 0) logger.info({ deleted: n }, 'expired images deleted');
        return n;
      })
      .catch((err: unknown) => {
        logger.warn({ err }, 'sweep failed; retrying at the next interval');
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void sweepOnce(), config.SWEEP_INTERVAL_MS);
  void sweepOnce();

  // Queued jobs past their deadline end as `expired` even when no worker is there to notice.
  const queue = generationQueue(redis, config.REDIS_PREFIX);
  queue.on('error', () => undefined);
  let expiring: Promise<void> | null = null;
  const expireOnce = () => {
    expiring ??= jobs
      .expireOverdue()
      .then(async (ended) => {
        for (const { id } of ended) await queue.remove(id).catch(() => 0);
        if (ended.length > 0) {
          metrics.jobsFinished.inc({ outcome: 'expired' }, ended.length);
          logger.info({ expired: ended.length }, 'queued jobs past their deadline expired');
        }
      })
      .catch((err: unknown) => logger.warn({ err }, 'expiry sweep failed; retrying at the next interval'))
      .finally(() => {
        expiring = null;
      });
    return expiring;
  };
  const expiryTimer = setInterval(() => void expireOnce(), config.EXPIRE_INTERVAL_MS);
  logger.info(
    {
      sweepEveryMs: config.SWEEP_INTERVAL_MS,
      webhookAttempts: config.WEBHOOK_RETRY_SCHEDULE.length + 1,
      webhookConcurrency: config.WEBHOOK_CONCURRENCY,
    },
    'dispatcher started',
  );
  return {
    logger,
    port: ops.port,
    metrics,
    sweepOnce,
    close: async () => {
      clearInterval(timer);
      clearInterval(expiryTimer);
      await running;
      await expiring;
      await queue.close();
      await webhooks.close();
      await ops.close();
      await redis.quit().catch(() => undefined);
    },
  };
}
