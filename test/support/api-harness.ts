/** The API application in memory, with the fakes of the fast tier, behind one loopback server per test file. */
import { createServer, type RequestListener, type Server } from 'node:http';

import { afterAll, beforeAll } from 'vitest';

import type { Job } from '@imagegen/contracts';
import { MemoryRequestAnchors } from '@imagegen/jobs';
import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createMetrics } from '@imagegen/observability';
import { createModerator } from '@imagegen/prompt';

import { FakeApiKeys, FakeGenerationQueue, FakeRateLimiter, FakeStorage, silentLogger } from './fakes.js';
import { createApp, type ApiDeps, type ApiSettings } from '../../apps/api/src/app.js';

export const KEY_A = 'ig_secret_a';
export const KEY_B = 'ig_secret_b';

const SETTINGS: ApiSettings = {
  RATE_LIMIT_PER_MINUTE: 100,
  READ_RATE_LIMIT_PER_MINUTE: 100,
  CONCURRENCY_LIMIT: 5,
  QUEUE_MAX_WAITING: 0,
  QUEUE_DEADLINE_MS: 60_000,
  BODY_LIMIT_BYTES: 16_384,
  MAX_WAIT_S: 30,
};

// One loopback server for the file; each test gets a fresh application (and fresh fakes) behind it.
let current: RequestListener = (_req, res) => res.end();
let base = '';

/** The loopback server's base URL (for requests `call` cannot make). */
export const baseUrl = (): string => base;

/**
 * One loopback server for the calling test file; each test's `world()` puts a fresh application (and
 * fresh fakes) behind it. Call once at the top of a test file.
 */
export function useApiServer(): void {
  let server: Server;
  beforeAll(async () => {
    server = createServer((req, res) => current(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
}

/** A closed-vocabulary model, as a worker running the bundled shapes model registers it. */
export const SHAPES_MODEL = {
  name: 'model',
  description: 'simple shapes on plain backgrounds',
  vocabulary: ['red', 'blue', 'circle', 'square', 'star', 'small', 'large', 'two', 'background', 'white'],
};

export function world(settings: Partial<ApiSettings> = {}, over: Partial<ApiDeps> = {}) {
  const jobs = new MemoryJobRepository();
  const queue = new FakeGenerationQueue();
  const storage = new FakeStorage();
  let n = 0;
  const deps: ApiDeps = {
    settings: { ...SETTINGS, ...settings },
    jobs,
    events: jobs,
    queue,
    apiKeys: new FakeApiKeys({ [KEY_A]: 'keya', [KEY_B]: 'keyb' }, jobs.keySettings),
    rateLimiter: new FakeRateLimiter(),
    modelDomains: () => Promise.resolve([SHAPES_MODEL]),
    storage,
    anchors: new MemoryRequestAnchors(),
    moderator: createModerator(null),
    webhookRefusal: () => Promise.resolve(null),
    newObjectKey: (f) => `images/obj${++n}.${f === 'jpeg' ? 'jpg' : 'png'}`,
    metrics: createMetrics('api'),
    logger: silentLogger(),
    pingRedis: () => Promise.resolve(true),
    ...over,
  };
  current = createApp(deps);
  return { jobs, queue, storage, deps };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function call(
  method: string,
  path: string,
  options: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? KEY_A : options.key;
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

export const submit = (body: unknown, options: { key?: string; headers?: Record<string, string> } = {}) =>
  call('POST', '/v1/images/generations', { ...options, body });
export const job = (a: Answer) => a.body as unknown as Job;
export const error = (a: Answer) => a.body['error'] as Record<string, unknown>;
