import { Worker } from 'bullmq';

import { Engine } from '@imagegen/engine';
import { createLogger, createMetrics, startOpsServer, type Logger } from '@imagegen/observability';
import {
  connectRedis,
  GENERATION_JOB_OPTIONS,
  GENERATION_QUEUE,
  JobStore,
  Keys,
  redisOptions,
  redisUrlOptions,
  type GenerationPayload,
  type Redis,
} from '@imagegen/jobs';
import { createModerator, createUpsampler } from '@imagegen/prompt';
import { storageFromEnv } from '@imagegen/storage';

import type { WorkerConfig } from './config.js';
import { GenerationProcessor } from './processor.js';

export interface RunningWorker {
  /** Stops taking jobs, lets running ones finish within WORKER_SHUTDOWN_MS, closes everything. Idempotent. */
  close: () => Promise<void>;
  port: number;
  logger: Logger;
}

/**
 * Builds and starts a worker process's parts: loads and warms the model before taking any job, consumes
 * the generation queue, listens for cancel requests, and serves /healthz, /readyz and /metrics.
 */
export async function startWorker(config: WorkerConfig): Promise<RunningWorker> {
  const logger = createLogger('worker', config.LOG_LEVEL);
  const metrics = createMetrics('worker');
  const keys = new Keys(config.REDIS_PREFIX);
  let ready = false;
  const consumer: { worker?: Worker<GenerationPayload> } = {};

  const health = await startOpsServer({
    port: config.WORKER_PORT,
    host: config.HOST,
    metrics,
    ready: () => ready && consumer.worker?.isRunning() === true,
  });
  const port = health.port;

  const loadStart = performance.now();
  const engine = await Engine.load({
    modelDir: config.MODEL_DIR,
    runtime: {
      provider: config.ORT_PROVIDER,
      deviceId: config.ORT_DEVICE_ID,
      intraOpThreads: config.ORT_INTRA_OP_THREADS,
    },
    ...(config.SAFETY_MODEL_DIR ? { safetyModelDir: config.SAFETY_MODEL_DIR } : {}),
  });
  await engine.warmup();
  logger.info(
    {
      ms: Math.round(performance.now() - loadStart),
      model: engine.info.modelDir,
      provider: engine.info.provider,
    },
    'model loaded and warmed up',
  );

  const redis: Redis = connectRedis(config.REDIS_URL, 'worker');
  const subscriber: Redis = connectRedis(config.REDIS_URL, 'subscriber');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  const jobs = new JobStore(redis, config.REDIS_PREFIX, config.JOB_RETENTION_S);
  const storage = storageFromEnv(config);
  await storage.ensureBucket();
  const processor = new GenerationProcessor({
    engine,
    jobs,
    storage,
    metrics,
    logger,
    upsampler: createUpsampler(config.upsampler),
    moderator: createModerator(config.moderation),
    jobTimeoutMs: config.JOB_TIMEOUT_MS,
    maxAttempts: GENERATION_JOB_OPTIONS.attempts,
    onEngineLost: () => {
      logger.fatal('the engine thread died; stopping so the process is replaced');
      void close().then(() => process.exit(1));
    },
  });
  subscriber.on('message', (_channel: string, jobId: string) => processor.cancel(jobId));
  await subscriber.subscribe(keys.cancelChannel());

  const worker = new Worker<GenerationPayload>(GENERATION_QUEUE, (job) => processor.process(job), {
    connection: { ...redisOptions('worker'), ...redisUrlOptions(config.REDIS_URL) },
    prefix: keys.bullPrefix(),
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    // A job may be orphaned by two crashed workers before it fails for good.
    maxStalledCount: 2,
  });
  consumer.worker = worker;
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  worker.on('failed', (job, err) => {
    // Jobs failed by BullMQ itself (stalled too often) never reached our handler's catch.
    if (job && /stalled more than allowable limit/.test(err.message)) {
      void jobs
        .finish(job.data.id, job.data.keyId, 'failed', {
          error: {
            code: 'worker_lost',
            message: 'the job was interrupted repeatedly by worker crashes',
            retryable: true,
          },
        })
        .catch(() => undefined);
    }
  });
  await worker.waitUntilReady();
  ready = true;
  logger.info({ concurrency: config.WORKER_CONCURRENCY, port }, 'worker consuming');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ready = false;
      const graceful = worker.close();
      const bounded = await Promise.race([
        graceful.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), config.WORKER_SHUTDOWN_MS).unref()),
      ]);
      // Past the bound, running jobs are left to stall and be taken up by another worker.
      if (!bounded) await worker.close(true).catch(() => undefined);
      await Promise.allSettled([engine.close(), subscriber.quit(), redis.quit()]);
      await health.close();
      logger.info({ graceful: bounded }, 'worker stopped');
    })();
    return closing;
  };
  return { close, port, logger };
}
