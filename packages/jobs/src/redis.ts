import { Cluster, Redis, type RedisOptions } from 'ioredis';

import { RedisUnavailableError, type RedisTarget } from '@imagegen/contracts';

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
    // A primary demoted by a failover answers writes with READONLY: reconnect (through Sentinel, to the
    // new primary) and send the command again.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
}

/** A connection of any topology: one node or a Sentinel-managed primary (`Redis`), or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/**
 * The one factory of the service's Redis connections, BullMQ's included (they are passed to its Queue
 * and Worker, which duplicate them for their blocking reads). `target` is a `redis://`/`rediss://` URL
 * (user, password, db and TLS included) or a `RedisTarget` from the environment (see @imagegen/contracts
 * RedisEnv): one node, a primary found through Sentinel, or a Cluster from its seed nodes.
 */
export function connectRedis(target: string, role: RedisRole): Redis;
export function connectRedis(target: RedisTarget, role: RedisRole): RedisClient;
export function connectRedis(target: string | RedisTarget, role: RedisRole): RedisClient {
  if (typeof target === 'string') return new Redis(target, redisOptions(role));
  const options = redisOptions(role);
  switch (target.mode) {
    case 'single':
      return new Redis(target.url, options);
    case 'sentinel':
      return new Redis({
        ...options,
        sentinels: target.sentinels,
        name: target.name,
        role: 'master',
        ...credentials(target),
        ...(target.sentinelPassword === undefined ? {} : { sentinelPassword: target.sentinelPassword }),
        ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
        // No failoverDetector: in ioredis 5.11 its disconnect on +switch-master, landing while the
        // connector waits to ask the sentinels again, ends the connection for good. A primary cut off from
        // its replicas cannot confirm a submit (WAIT) and is demoted with READONLY when it comes back.
        sentinelRetryStrategy: (times) => Math.min(times * 200, 2000),
      });
    case 'cluster': {
      const { enableOfflineQueue, enableReadyCheck, ...nodeOptions } = options;
      return new Cluster(target.nodes, {
        enableOfflineQueue: enableOfflineQueue ?? true,
        // The Cluster's ready check (CLUSTER INFO) goes through its own queue, which a request-path client
        // keeps off: it would never become ready. It is ready once it has the slot map instead.
        enableReadyCheck: role !== 'request' && (enableReadyCheck ?? true),
        redisOptions: { ...nodeOptions, ...credentials(target), ...(target.tls ? { tls: {} } : {}) },
        clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
        // A slot whose primary failed answers CLUSTERDOWN until a replica takes over: retry meanwhile.
        retryDelayOnClusterDown: 200,
        retryDelayOnFailover: 200,
        slotsRefreshTimeout: 2000,
      });
    }
  }
}

const credentials = (t: { username: string | undefined; password: string | undefined }) => ({
  ...(t.username === undefined ? {} : { username: t.username }),
  ...(t.password === undefined ? {} : { password: t.password }),
});

export type { Redis, Cluster };

/** Resolves once the connection is ready; rejects after `ms` with the URL-free reason. */
export async function waitReady(redis: RedisClient, ms: number): Promise<void> {
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
