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

/** ioredis connection options from a redis:// URL (BullMQ's Worker takes options, not a shared client). */
export function redisUrlOptions(url: string): {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
} {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

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
