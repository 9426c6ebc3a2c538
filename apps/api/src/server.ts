import type { Server } from 'node:http';

import { createLogger, createMetrics, type Logger } from '@imagegen/observability';
import {
  ApiKeyStore,
  connectRedis,
  generationQueue,
  JobStore,
  Keys,
  waitReady,
  type Redis,
} from '@imagegen/queue';
import { storageFromEnv } from '@imagegen/storage';
import { parseAllowlist } from '@imagegen/webhooks';

import { createApp } from './app.js';
import type { ApiConfig } from './config.js';
import { EventHub } from './event-hub.js';

export interface RunningApi {
  port: number;
  logger: Logger;
  apiKeys: ApiKeyStore;
  /** Stops accepting requests, ends open streams, closes connections. Idempotent. */
  close: () => Promise<void>;
}

/** Builds the API's adapters from its config and listens. */
export async function startApi(config: ApiConfig): Promise<RunningApi> {
  const logger = createLogger('api', config.LOG_LEVEL);
  const metrics = createMetrics('api');
  const keys = new Keys(config.REDIS_PREFIX);
  const redis: Redis = connectRedis(config.REDIS_URL, 'request');
  const subscriber: Redis = connectRedis(config.REDIS_URL, 'subscriber');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  // BullMQ's producer needs Redis at start; afterwards request-path calls fail fast (503) while it is down.
  await waitReady(redis, 30_000);
  const jobs = new JobStore(redis, config.REDIS_PREFIX, config.JOB_RETENTION_S);
  const apiKeys = new ApiKeyStore(redis, config.REDIS_PREFIX);
  const queue = generationQueue(redis, config.REDIS_PREFIX);
  queue.on('error', (err) => logger.warn({ err: err.message }, 'queue error'));
  const storage = storageFromEnv(config);
  // Best effort: /readyz reports the bucket as not ready until someone (api, worker, compose set-up) creates it.
  await storage.ensureBucket().catch((err: unknown) => logger.warn({ err }, 'bucket not ready'));
  const hub = await EventHub.start(subscriber, keys.eventsChannel());
  const shutdown = new AbortController();
  const app = createApp({
    shutdown: shutdown.signal,
    config,
    jobs,
    apiKeys,
    queue,
    storage,
    hub,
    metrics,
    logger,
    pingRedis: async () => (await redis.ping().catch(() => '')) === 'PONG',
    webhookAllowlist: parseAllowlist(config.IMAGEGEN_WEBHOOK_ALLOWLIST),
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(config.PORT, config.HOST, () => resolve(s));
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 0; // long waits and event streams are bounded by the handlers themselves
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
        server.closeIdleConnections();
        const cut = setTimeout(() => server.closeAllConnections(), 3000);
        await closed;
        clearTimeout(cut);
        hub.close();
        await Promise.allSettled([queue.close(), redis.quit()]);
      })();
      return closing;
    },
  };
}
