import { Router } from 'express';

import { openApiDocument } from '@imagegen/contracts';
import type { GenerationQueue } from '@imagegen/jobs';
import type { Metrics } from '@imagegen/observability';

export interface OpsRoutesDeps {
  metrics: Metrics;
  queue: Pick<GenerationQueue, 'counts'>;
  /** Redis and the object store answer. */
  pingRedis: () => Promise<boolean>;
  pingStorage: () => Promise<boolean>;
}

/** `/healthz`, `/readyz`, `/metrics` and `/openapi.json`: no authentication. */
export function opsRoutes(deps: OpsRoutesDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [redis, storage] = await Promise.all([
      deps.pingRedis().catch(() => false),
      deps.pingStorage().catch(() => false),
    ]);
    res
      .status(redis && storage ? 200 : 503)
      .json({ status: redis && storage ? 'ready' : 'not_ready', redis, storage });
  });
  router.get('/metrics', async (_req, res) => {
    try {
      const counts = await deps.queue.counts();
      for (const [state, n] of Object.entries(counts)) deps.metrics.queueDepth.set({ state }, n);
    } catch {
      // Redis is down: serve the process metrics anyway.
    }
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  router.get('/openapi.json', (req, res) => {
    res.json(openApiDocument(`${req.protocol}://${req.get('host') ?? 'localhost'}`));
  });
  return router;
}
