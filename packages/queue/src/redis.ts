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
  };
}

export function connectRedis(url: string, role: RedisRole): Redis {
  return new Redis(url, redisOptions(role));
}

export type { Redis };
