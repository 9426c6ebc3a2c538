import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { loadApiConfig, startApi, type RunningApi } from '@imagegen/api';
import { storageFromEnv, type ObjectStore } from '@imagegen/storage';
import { loadWorkerConfig, startWorker, type RunningWorker } from '@imagegen/worker';

import { S3_CREDENTIALS, startS3 } from './s3.js';
import { startRedis, type RedisServer } from './redis.js';

export const FIXTURE_MODEL = fileURLToPath(
  new URL('../../packages/engine/fixtures/tiny-random', import.meta.url),
);

export interface TestStack {
  redis: RedisServer;
  s3: Awaited<ReturnType<typeof startS3>>;
  api: RunningApi;
  base: string;
  env: Record<string, string>;
  key: string;
  keyId: string;
  /** The test key's webhook signing secret. */
  webhookSecret: string;
  workers: RunningWorker[];
  /** Starts one more in-process worker with extra environment. */
  addWorker: (extra?: Record<string, string>) => Promise<RunningWorker>;
  stop: () => Promise<void>;
}

/**
 * A whole service on loopback: redis-server, the S3 endpoint, the API and `workers` in-process workers,
 * each test file with its own Redis prefix and bucket. `env` is what child processes need too.
 */
export async function startStack(
  options: {
    workers?: number;
    env?: Record<string, string>;
    /** A redis-server of the caller's (e.g. with AOF in a directory it restarts from). */
    redis?: RedisServer;
  } = {},
): Promise<TestStack> {
  const redis = options.redis ?? (await startRedis());
  const s3 = await startS3();
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}`,
    S3_ENDPOINT: s3.server.endpoint,
    S3_ACCESS_KEY: S3_CREDENTIALS.accessKey,
    S3_SECRET_KEY: S3_CREDENTIALS.secretKey,
    S3_BUCKET: `b${randomUUID().slice(0, 8)}`,
    MODEL_DIR: FIXTURE_MODEL,
    PORT: '0',
    HOST: '127.0.0.1',
    WORKER_PORT: '0',
    DISPATCHER_PORT: '0',
    LOG_LEVEL: 'silent',
    ...options.env,
  };
  const api = await startApi(loadApiConfig(env));
  const workers: RunningWorker[] = [];
  const addWorker = async (extra: Record<string, string> = {}) => {
    const w = await startWorker(loadWorkerConfig({ ...env, ...extra }));
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (options.workers ?? 1); i++) await addWorker();
  const { id: keyId, secret, webhookSecret } = await api.apiKeys.create('test');
  return {
    redis,
    s3,
    api,
    base: `http://127.0.0.1:${api.port}`,
    env,
    key: secret,
    keyId,
    webhookSecret,
    workers,
    addWorker,
    stop: async () => {
      await Promise.allSettled(workers.map((w) => w.close()));
      await api.close();
      await s3.stop();
      await redis.stop();
    },
  };
}

/** The stack's bucket, through the service's own storage adapter. */
export function stackStorage(stack: { env: Record<string, string> }): ObjectStore {
  return storageFromEnv({
    S3_ENDPOINT: stack.env['S3_ENDPOINT']!,
    S3_ACCESS_KEY: stack.env['S3_ACCESS_KEY']!,
    S3_SECRET_KEY: stack.env['S3_SECRET_KEY']!,
    S3_BUCKET: stack.env['S3_BUCKET']!,
    S3_REGION: 'us-east-1',
    IMAGE_TTL_MS: Number(stack.env['IMAGE_TTL_MS'] ?? 3_600_000),
  });
}

/** fetch with the stack's API key and JSON. */
export function client(stack: { base: string; key: string }) {
  return async (
    path: string,
    init: { method?: string; body?: unknown; headers?: Record<string, string>; key?: string | null } = {},
  ) => {
    const headers: Record<string, string> = { ...init.headers };
    const key = init.key === undefined ? stack.key : init.key;
    if (key !== null) headers['authorization'] = `Bearer ${key}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    }
    const res = await fetch(`${stack.base}${path}`, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = {};
    }
    return { status: res.status, headers: res.headers, json, text };
  };
}
