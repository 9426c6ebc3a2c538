import { hostname } from 'node:os';

import { JOB_CATALOG } from '@imagegen/contracts';
import {
  Engine,
  modelIdentity,
  readModelDomain,
  readModelManifest,
  type EngineOptions,
} from '@imagegen/engine';
import {
  BullGenerationQueue,
  connectRedis,
  createConsumer,
  Keys,
  ModelRegistry,
  RedisJobPreviews,
  RedisJobRepository,
  type RedisClient,
} from '@imagegen/jobs';
import { createLogger, createMetrics, startOpsServer, type Logger } from '@imagegen/observability';
import { createModerator, createUpsampler } from '@imagegen/prompt';
import { storageFromEnv } from '@imagegen/storage';

import type { WorkerConfig } from './config.js';
import { Batcher } from './batcher.js';
import { EngineHost, type EnginePort } from './engine-host.js';
import { createWorker } from './create-worker.js';
import { checkModelFits } from './model-fit.js';

export interface RunningWorker {
  /** Stops taking jobs, lets running ones finish within WORKER_SHUTDOWN_MS, closes everything. Idempotent. */
  close: () => Promise<void>;
  port: number;
  logger: Logger;
  /** The worker's engine across engine losses (tests: replacements). */
  engine: EngineHost;
}

/** Test seams: how the worker loads its engine (e.g. with a fault-injecting thread entry). */
export interface WorkerOverrides {
  engineOptions?: Partial<EngineOptions>;
}

/**
 * Builds and starts a worker process's parts: loads and warms the model before taking any job, consumes
 * the generation queue, listens for cancel requests, and serves /healthz, /readyz and /metrics.
 */
export async function startWorker(
  config: WorkerConfig,
  overrides: WorkerOverrides = {},
): Promise<RunningWorker> {
  const logger = createLogger('worker', config.LOG_LEVEL);
  // Before anything loads: a model too large for its device stops the worker here (ConfigError, exit 2).
  const fit = checkModelFits(config);
  if (!fit) logger.warn({ provider: config.ORT_PROVIDER }, 'device memory unknown: model size not checked');
  else logger.info({ weightBytes: fit.weightBytes, availableBytes: fit.available.bytes }, 'model fits');
  const identity = modelIdentity(config.MODEL_DIR);
  let native: { width: number; height: number } | null = null;
  const metrics = createMetrics('worker');
  const prefix = config.REDIS_PREFIX;
  let consuming = false;
  const load = (): Promise<EnginePort> =>
    Engine.load({
      modelDir: config.MODEL_DIR,
      runtime: {
        provider: config.ORT_PROVIDER,
        deviceId: config.ORT_DEVICE_ID,
        intraOpThreads: config.ORT_INTRA_OP_THREADS,
      },
      safetyModelDir: config.safetyModelDir,
      defaultSafetyModelDir: config.defaultSafetyModelDir,
      upscalerDir: config.upscalerDir,
      defaultUpscalerDir: config.defaultUpscalerDir,
      abortGraceMs: config.ENGINE_ABORT_GRACE_MS,
      ...overrides.engineOptions,
    });
  const engine = new EngineHost(load, logger, {
    onReplaced: () => metrics.engineReplacements.inc(),
    stuckAfterMs: config.ENGINE_ABORT_GRACE_MS + 30_000,
  });
  const health = await startOpsServer({
    port: config.WORKER_PORT,
    host: config.HOST,
    metrics,
    ready: () => consuming && engine.ready,
    healthy: () => !engine.stuck,
    onScrape: () => metrics.workerReady.set(consuming && engine.ready ? 1 : 0),
    readyDetails: () => ({ model: { ...identity, native } }),
  });
  await engine.start();
  const manifest = readModelManifest(config.MODEL_DIR);
  const side = Math.round(Math.sqrt(manifest.nativePixels));
  native = { width: side, height: side };
  if (config.safetyModelDir === false) {
    // SAFETY_MODEL_DIR=none: generated images reach users unchecked (only prompts are moderated).
    logger.warn({ SAFETY_MODEL_DIR: 'none' }, 'image safety check is off');
  }

  const redis: RedisClient = connectRedis(config.redis, 'worker');
  const subscriber: RedisClient = connectRedis(config.redis, 'subscriber');
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis subscriber error'));
  const storage = storageFromEnv(config);
  await storage.ensureBucket();
  // BATCH_MAX > 1: BullMQ runs that many jobs at once and the batcher groups their engine calls.
  const batcher =
    config.BATCH_MAX > 1
      ? new Batcher(engine, {
          maxBatch: config.BATCH_MAX,
          waitMs: config.BATCH_WAIT_MS,
          onBatch: (size) => {
            metrics.batches.inc();
            metrics.batchedGenerations.inc(size);
          },
        })
      : null;
  const concurrency = Math.max(config.WORKER_CONCURRENCY, config.BATCH_MAX);
  // A finished job frees its key's slot: the key's next held job (concurrency_policy queue) is enqueued at once.
  const releases = new BullGenerationQueue(redis, prefix, (err) =>
    logger.warn({ err: err.message }, 'queue error'),
  );
  const { processor, handlers } = createWorker({
    engine: batcher ?? engine,
    // A job tried again after a crash runs unbatched (see ProcessorDeps.soloEngine).
    soloEngine: batcher ? engine : undefined,
    jobs: new RedisJobRepository(redis, {
      prefix,
      retentionSeconds: config.JOB_RETENTION_S,
      enqueueReleased: ({ id, keyId, objectKey, priority }) =>
        releases.enqueue({ id, keyId, objectKey }, priority),
      // Identical requests attached to a job that succeeds get copies of its image (result reuse).
      copyImage: (from, to) => storage.copy(from, to),
    }),
    storage,
    metrics,
    logger,
    upsampler: createUpsampler(config.upsampler),
    moderator: createModerator(config.moderation),
    jobTimeoutMs: config.JOB_TIMEOUT_MS,
    deadlineSlackMs: config.ENGINE_ABORT_GRACE_MS + 1000,
    maxCrashes: config.WORKER_MAX_CRASHES,
    workerName: `${hostname()}:${process.pid}`,
    previews: { everySteps: config.PREVIEW_EVERY_STEPS, channel: new RedisJobPreviews(redis, prefix) },
    model: identity,
  });
  const keys = new Keys(prefix);
  subscriber.on('message', (channel: string, jobId: string) => {
    if (channel === keys.previewWatchChannel()) processor.previewsWatched(jobId);
    else processor.cancel(jobId);
  });
  await subscriber.subscribe(keys.cancelChannel(), keys.previewWatchChannel());

  const consumer = createConsumer('generate', handlers.generate, {
    connection: redis,
    prefix,
    concurrency,
    lockDurationMs: config.WORKER_LOCK_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
    // The processor ends a job that crashed its worker more than WORKER_MAX_CRASHES times as
    // worker_crashed when it next starts; BullMQ's own limit is one above, so it never fails it first.
    maxStalledCount: config.WORKER_MAX_CRASHES + 1,
    onError: (err) => logger.error({ err }, 'worker error'),
  });
  await consumer.waitUntilReady();
  // Tell the API what this model can draw (prompt checks warn when a prompt is outside it); renewed so
  // that a model no worker runs any more drops out.
  const models = new ModelRegistry(redis, prefix);
  const model = { ...identity, native, ...readModelDomain(config.MODEL_DIR) };
  const register = () =>
    models.register(model).catch((err: unknown) => logger.warn({ err }, 'model registration failed'));
  await register();
  const renew = setInterval(() => void register(), 60_000);
  renew.unref();
  consuming = true;
  logger.info(
    { concurrency, batchMax: config.BATCH_MAX, port: health.port, attempts: JOB_CATALOG.generate.attempts },
    'worker consuming',
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      consuming = false;
      clearInterval(renew);
      const graceful = consumer.close();
      const bounded = await Promise.race([
        graceful.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), config.WORKER_SHUTDOWN_MS).unref()),
      ]);
      // Past the bound, running jobs are left to stall and be taken up by another worker; their stall is
      // recorded as this shutdown's, so it does not count against them as a crash.
      if (!bounded) {
        await processor.abandonRunning();
        await consumer.close(true).catch(() => undefined);
      }
      await releases.close().catch(() => undefined);
      await Promise.allSettled([engine.close(), subscriber.quit(), redis.quit()]);
      await health.close();
      logger.info({ graceful: bounded }, 'worker stopped');
    })();
    return closing;
  };
  return { close, port: health.port, logger, engine };
}
