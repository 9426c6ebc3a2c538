import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections by role (BullMQ "going to production"): workers and blocking readers wait for Redis
 * forever (`maxRetriesPerRequest: null`); request-path clients fail fast while Redis is down
 * (`enableOfflineQueue: false`) so HTTP handlers answer 503 instead of hanging.
 */
export type RedisRole = 'worker' | 'request' | 'subscriber';

export function redisOptions(role: RedisRole): RedisOptions {
  return {
    maxRetriesPerRequest: role === 'request' ? 1 : null,
    enableOfflineQueue: role !== 'request',
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
    // A subscribed connection may only run pub/sub commands; ioredis's INFO ready check would fail there.
    enableReadyCheck: role !== 'subscriber',
  };
}

export function connectRedis(url: string, role: RedisRole): Redis {
  return new Redis(url, redisOptions(role));
}

export type { Redis };

/** Resolves once the connection is ready; rejects after `ms` with the URL-free reason. */
export async function waitReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis is not reachable (waited ${ms} ms)`));
    }, ms);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
