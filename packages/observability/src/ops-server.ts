import { createServer } from 'node:http';

import type { Metrics } from './metrics.js';

export interface OpsServer {
  port: number;
  close: () => Promise<void>;
}

/**
 * The small HTTP server of a background process (worker, dispatcher): `/healthz` (the process is up),
 * `/readyz` (200 when `ready()` says so, else 503) and `/metrics` (Prometheus).
 */
export async function startOpsServer(options: {
  port: number;
  host: string;
  metrics: Metrics;
  ready: () => boolean;
  /** False when the process must be replaced (then /healthz answers 503). Default: always healthy. */
  healthy?: () => boolean;
  /** Sets point-in-time gauges just before each /metrics answer. */
  onScrape?: () => void;
  /** More fields of the /readyz answer (the worker: the model it runs). */
  readyDetails?: () => Record<string, unknown>;
}): Promise<OpsServer> {
  const { metrics } = options;
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        const ok = options.healthy?.() ?? true;
        res
          .writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ status: ok ? 'ok' : 'unhealthy' }));
      } else if (req.url === '/readyz') {
        const ok = options.ready();
        res
          .writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ status: ok ? 'ready' : 'not_ready', ...options.readyDetails?.() }));
      } else if (req.url === '/metrics') {
        options.onScrape?.();
        res
          .writeHead(200, { 'Content-Type': metrics.registry.contentType })
          .end(await metrics.registry.metrics());
      } else {
        res.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
