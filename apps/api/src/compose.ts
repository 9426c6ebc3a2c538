import { setMaxListeners } from 'node:events';
import { createServer, type Server } from 'node:http';

import { RedisApiKeyRepository, RedisRateLimiter, type ApiKeyRepository } from '@imagegen/access';
import type { ModelInfo } from '@imagegen/contracts';
import {
  BullGenerationQueue,
  connectRedis,
  inspectionQueues,
  Keys,
  ModelRegistry,
  RedisJobEvents,
  RedisJobPreviews,
  RedisJobRepository,
  RedisRequestAnchors,
  waitReady,
  ReplicaAck,
  type RedisClient,
} from '@imagegen/jobs';
import { createLogger, createMetrics, type Logger } from '@imagegen/observability';
import { createModerator } from '@imagegen/prompt';
import { newObjectKey, storageFromEnv } from '@imagegen/storage';
import { parseAllowlist, webhookUrlRefusal } from '@imagegen/webhooks';

import { createApp } from './app.js';
import { OpenRequests } from './services/open-requests.js';
import { coalescedJobReads, SharedJobEvents } from './services/shared-reads.js';
import type { ApiConfig } from './config.js';
import { limitConnections, openFileLimit } from './http/connection-limit.js';
import { answerClientError, answerUnmetExpectation } from './http/errors.js';
import { DEFAULT_PLAYGROUND_DIR, loadPlayground } from './routes/playground.js';
import { IntentClearer } from './services/intent-clearer.js';

export interface RunningApi {
  port: number;
  logger: Logger;
  apiKeys: ApiKeyRepository;
  /** Stops accepting requests, ends open streams, closes connections. Idempotent and bounded. */
  close: () => Promise<void>;
}

/** How long in-flight requests get to finish once the API stops accepting new ones. */
const DRAIN_MS = 3000;

/** Builds the API's adapters from its config, and listens. */
export async function startApi(config: ApiConfig): Promise<RunningApi> {
  const logger = createLogger('api', config.LOG_LEVEL);
  const metrics = createMetrics('api');
  const prefix = config.REDIS_PREFIX;
  const redis: RedisClient = connectRedis(config.redis, 'request');
  const subscriber: RedisClient = connectRedis(config.redis, 'subscriber');
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis subscriber error'));
  // Previews get a subscriber of their own: their bigger messages never delay job event notifications.
  const previewSubscriber: RedisClient = connectRedis(config.redis, 'subscriber');
  previewSubscriber.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis subscriber error'));
  // Redis must answer at start; afterwards request-path calls fail fast (503) while it is down.
  await waitReady(redis, 30_000);
  // A cancel or expiry that frees a slot enqueues the key's next held job at once.
  const jobs: RedisJobRepository = new RedisJobRepository(redis, {
    prefix,
    retentionSeconds: config.JOB_RETENTION_S,
    enqueueReleased: ({ id, keyId, objectKey, priority }) =>
      queue.enqueue({ id, keyId, objectKey }, priority),
  });
  const apiKeys = new RedisApiKeyRepository(redis, prefix);
  const queue = new BullGenerationQueue(redis, prefix, (err) =>
    logger.warn({ err: err.message }, 'queue error'),
  );
  // The admin queue dashboard's view of BullMQ, only when the admin API is on.
  const board = config.ADMIN_API_KEY
    ? inspectionQueues(redis, prefix, (err) => logger.warn({ err: err.message }, 'queue error'))
    : null;
  const intents = new IntentClearer(jobs, logger);
  const storage = storageFromEnv(config);
  // Best effort: /readyz reports the bucket as not ready until someone (api, worker, set-up) creates it.
  await storage.ensureBucket().catch((err: unknown) => logger.warn({ err }, 'bucket not ready'));
  // One read of a job's events per notification for all its local streams and waits (issue 17, finding 6).
  const redisEvents = await RedisJobEvents.start(redis, subscriber, prefix);
  const jobReads = coalescedJobReads(jobs);
  const events = new SharedJobEvents(redisEvents, jobReads.forget);
  // Caps per key, and the end of a revoked key's streams and waits in every API process (finding 11).
  const openRequests = new OpenRequests({
    stream: config.MAX_STREAMS_PER_KEY,
    wait: config.MAX_WAITS_PER_KEY,
  });
  const revocations: RedisClient = connectRedis(config.redis, 'subscriber');
  revocations.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis subscriber error'));
  revocations.on('message', (_channel: string, keyId: string) => {
    const ended = openRequests.revoke(keyId);
    if (ended > 0) logger.info({ keyId, ended }, 'key revoked: its open streams and waits ended');
  });
  await revocations.subscribe(new Keys(prefix).keyRevocations());
  const previews = new RedisJobPreviews(redis, prefix, previewSubscriber);
  const shutdown = new AbortController();
  // Every open wait and event stream listens for shutdown: no listener limit.
  setMaxListeners(0, shutdown.signal);
  const allowlist = parseAllowlist(config.IMAGEGEN_WEBHOOK_ALLOWLIST);
  // The models the workers run change rarely: read the registry at most every 10 s.
  const registry = new ModelRegistry(redis, prefix);
  let models: { at: number; list: Promise<ModelInfo[]> } | null = null;
  const modelDomains = () => {
    if (!models || Date.now() - models.at > 10_000) {
      const entry = { at: Date.now(), list: registry.list().catch(() => []) };
      // An empty registry (workers still loading) is asked again after 2 s, not 10 s: until a model is
      // known, warnings and result reuse go without it.
      entry.list = entry.list.then((list) => {
        if (list.length === 0) entry.at -= 8_000;
        return list;
      });
      models = entry;
    }
    return models.list;
  };
  const playgroundDir = config.PLAYGROUND_DIR ?? DEFAULT_PLAYGROUND_DIR;
  const playground = loadPlayground(playgroundDir);
  if (!playground) logger.warn({ dir: playgroundDir }, 'playground not built: / answers 404');
  const app = createApp({
    settings: config,
    jobs,
    events,
    previews,
    queue,
    intents,
    apiKeys,
    rateLimiter: new RedisRateLimiter(redis, prefix),
    storage,
    anchors: new RedisRequestAnchors(redis, prefix),
    moderator: createModerator(config.moderation),
    modelDomains,
    webhookRefusal: (url) => webhookUrlRefusal(url, allowlist),
    newObjectKey,
    ...(config.RESULT_CACHE === 'on'
      ? {
          resultCache: {
            objectTtlMs: config.IMAGE_TTL_MS,
            copyImage: (from: string, to: string) => storage.copy(from, to),
            // Results of one set of models are reused only while the workers run that same set.
            modelIdentity: async () =>
              (await modelDomains())
                .map((m) => `${m.name}@${m.revision ?? ''}`)
                .sort()
                .join(','),
          },
        }
      : {}),
    metrics,
    logger,
    openRequests,
    jobReads: jobReads.jobs,
    durability: new ReplicaAck(redis, prefix, {
      minReplicas: config.REDIS_MIN_REPLICAS_ACK,
      timeoutMs: config.REDIS_WAIT_TIMEOUT_MS,
    }),
    pingRedis: async () => (await redis.ping().catch(() => '')) === 'PONG',
    redisMemory: async () => {
      const info = await redis.info('memory');
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
      const used = field('used_memory');
      return Number.isFinite(used) ? { used, max: field('maxmemory') || 0 } : null;
    },
    shutdown: shutdown.signal,
    ...(board ? { boardQueues: board.queues } : {}),
    playground: {
      files: playground,
      imageOrigin: new URL(config.S3_PUBLIC_ENDPOINT ?? config.S3_ENDPOINT).origin,
    },
  });
  // Receiving a request (headers and body) is bounded on every route: a silent or trickling client is
  // answered 408 and closed (issue 17, finding 3). Node's timer covers only the request's arrival, so long
  // waits and event streams, bounded by their handlers, are not cut. The check runs every second.
  const server: Server = createServer(
    {
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      headersTimeout: Math.min(20_000, config.REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: 1000,
    },
    app,
  );
  limitConnections(server, {
    perAddress: config.MAX_CONNECTIONS_PER_ADDRESS,
    logger,
    fdLimit: openFileLimit(),
  });
  server.on('clientError', answerClientError);
  server.on('checkExpectation', answerUnmetExpectation);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  logger.info({ port }, 'api listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    logger,
    apiKeys,
    close: () => {
      closing ??= (async () => {
        // Stop accepting; answer open waits and end event streams (clients come back with their
        // Last-Event-ID); give in-flight requests a moment, then cut what is left.
        shutdown.abort();
        const closed = new Promise<void>((r) => server.close(() => r()));
        // Connections go idle as their waits answer and their streams end: close each as soon as it does,
        // not only those idle now; whatever is still busy after DRAIN_MS is cut.
        server.closeIdleConnections();
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const cut = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
        await closed;
        clearInterval(idle);
        clearTimeout(cut);
        events.close();
        redisEvents.close();
        revocations.disconnect();
        previews.close();
        await intents.flush();
        await Promise.allSettled([queue.close(), board?.close()]);
        await redis.quit().catch(() => undefined);
      })();
      return closing;
    },
  };
}
