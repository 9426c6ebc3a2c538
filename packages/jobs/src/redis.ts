import { Redis, type RedisOptions } from 'ioredis';

import { RedisUnavailableError } from '@imagegen/contracts';

/**
 * Redis connections by role (BullMQ "going to production"): workers and blocking readers wait for Redis
 * forever (`maxRetriesPerRequest: null`); request-path clients fail fast while Redis is down
 * (`enableOfflineQueue: false`, one retry, a command timeout) so HTTP handlers answer 503 instead of
 * hanging.
 */
export type RedisRole = 'worker' | 'request' | 'subscriber';

/** How long a request-path Redis command may take before the request answers 503. */
export const REQUEST_COMMAND_TIMEOUT_MS = 5000;

export function redisOptions(role: RedisRole): RedisOptions {
  return {
    maxRetriesPerRequest: role === 'request' ? 1 : null,
    enableOfflineQueue: role !== 'request',
    ...(role === 'request' ? { commandTimeout: REQUEST_COMMAND_TIMEOUT_MS } : {}),
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
    // A subscribed connection may only run pub/sub commands; ioredis's INFO ready check would fail there.
    enableReadyCheck: role !== 'subscriber',
  };
}

/** A connection for a role, from a redis:// or rediss:// URL (user, password, db and TLS included). */
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
      reject(new RedisUnavailableError(`Redis is not reachable (waited ${ms} ms)`));
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

/**
 * Runs Redis calls; whatever the client throws (refused, closed, timed out, offline, a reply error while
 * Redis loads its AOF) becomes a `RedisUnavailableError` with the original as `cause`: callers decide by
 * class, and the API answers 503 with Retry-After.
 */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof RedisUnavailableError) throw e;
    throw new RedisUnavailableError(undefined, { cause: e });
  }
}
