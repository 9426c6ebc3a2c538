import { createHash, timingSafeEqual } from 'node:crypto';

import { Router, type RequestHandler } from 'express';

import { openApiDocument } from '@imagegen/contracts';
import type { GenerationQueue, JobRepository } from '@imagegen/jobs';
import type { Metrics } from '@imagegen/observability';
import type { ModelDomain } from '@imagegen/prompt';

import { bearerToken } from '../http/auth-failures.js';
import { unauthorized } from '../services/errors.js';

/** A model as a worker registered it: what it draws, and (workers of this release) its revision and size. */
export type RegisteredModel = ModelDomain & {
  revision?: string | null;
  native?: { width: number; height: number } | null;
};

export interface OpsRoutesDeps {
  metrics: Metrics;
  queue: Pick<GenerationQueue, 'counts' | 'prometheusMetrics'>;
  jobs: Pick<JobRepository, 'oldestQueuedAt'>;
  /** Redis and the object store answer. */
  pingRedis: () => Promise<boolean>;
  /** Redis's used memory and maxmemory (0: none), or null when it cannot be read. */
  redisMemory?: () => Promise<{ used: number; max: number } | null>;
  pingStorage: () => Promise<boolean>;
  /** When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`. */
  metricsToken?: string | undefined;
  /** The per-address limit of these routes (see http/ops-limit.ts). */
  opsLimit: RequestHandler;
  /** The models the workers registered (read at most every 10 s); listed by /readyz. */
  modelDomains: () => Promise<readonly RegisteredModel[]>;
}

/** The share of Redis's maxmemory from which /readyz warns. */
const REDIS_MEMORY_WARN_SHARE = 0.9;

/** How long one readiness check answers every /readyz: a flood of probes costs one ping a second. */
const READY_CACHE_MS = 1000;

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `/healthz`, `/readyz`, `/metrics` and `/openapi.json`: no API key, a per-address limit, readiness
 * cached for a second, and /metrics behind METRICS_TOKEN when it is set.
 */
export function opsRoutes(deps: OpsRoutesDeps): Router {
  const router = Router();
  router.use(['/healthz', '/readyz', '/metrics', '/openapi.json'], deps.opsLimit);
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  let ready: {
    at: number;
    check: Promise<[boolean, boolean, readonly RegisteredModel[], { used: number; max: number } | null]>;
  } | null = null;
  // `models`: what the workers run (name, hub revision, native size), from their registrations; it does
  // not decide readiness — an API with no worker yet still accepts jobs, which wait in the queue.
  router.get('/readyz', async (_req, res) => {
    if (!ready || Date.now() - ready.at >= READY_CACHE_MS) {
      ready = {
        at: Date.now(),
        check: Promise.all([
          deps.pingRedis().catch(() => false),
          deps.pingStorage().catch(() => false),
          deps.modelDomains().catch(() => []),
          (deps.redisMemory?.() ?? Promise.resolve(null)).catch(() => null),
        ]),
      };
    }
    const [redis, storage, models, memory] = await ready.check;
    // Redis's headroom (issue 17, finding 5: with noeviction a full Redis stops every tenant): a warning
    // from REDIS_MEMORY_WARN_SHARE of maxmemory; it does not make the API unready.
    const warnings: string[] = [];
    if (memory) {
      deps.metrics.redisMemoryUsed.set(memory.used);
      deps.metrics.redisMemoryMax.set(memory.max);
      if (memory.max > 0 && memory.used >= memory.max * REDIS_MEMORY_WARN_SHARE) {
        warnings.push(
          `redis_memory: ${Math.round((100 * memory.used) / memory.max)} % of maxmemory used; ` +
            'submits fail when it is full: add memory, or lower MAX_RETAINED_JOBS_PER_KEY or JOB_RETENTION_S',
        );
      }
    }
    res.status(redis && storage ? 200 : 503).json({
      status: redis && storage ? 'ready' : 'not_ready',
      redis,
      storage,
      redis_memory: memory ? { used_bytes: memory.used, max_bytes: memory.max } : null,
      warnings,
      models: models.map((m) => ({ name: m.name, revision: m.revision ?? null, native: m.native ?? null })),
    });
  });
  const expected = deps.metricsToken === undefined ? null : digest(deps.metricsToken);
  router.get('/metrics', async (req, res) => {
    if (expected) {
      const presented = bearerToken(req.header('authorization'));
      if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="imagegen-metrics"');
        throw unauthorized('/metrics needs "Authorization: Bearer <METRICS_TOKEN>"');
      }
    }
    const m = deps.metrics;
    // Queue gauges come from Redis at each scrape; while it is down, the process metrics are still served
    // with imagegen_redis_up 0 (and no bullmq_* samples).
    let bull = '';
    try {
      const [counts, oldest, text] = await Promise.all([
        deps.queue.counts(),
        deps.jobs.oldestQueuedAt(),
        deps.queue.prometheusMetrics({ service: 'api' }),
      ]);
      for (const [state, n] of Object.entries(counts)) m.queueDepth.set({ state }, n);
      m.queueOldestAge.set(oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      m.redisUp.set(1);
      bull = text;
    } catch {
      m.redisUp.set((await deps.pingRedis().catch(() => false)) ? 1 : 0);
    }
    const text = await m.registry.metrics();
    res.type(m.registry.contentType).send(bull ? `${text}${text.endsWith('\n') ? '' : '\n'}${bull}\n` : text);
  });
  router.get('/openapi.json', (req, res) => {
    res.json(openApiDocument(`${req.protocol}://${req.get('host') ?? 'localhost'}`));
  });
  return router;
}
