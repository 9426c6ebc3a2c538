import { runMain } from '@imagegen/observability';

import { loadWorkerConfig, WORKER_CLOSE_MARGIN_MS } from './config.js';
import { startWorker } from './compose.js';

/**
 * `npm run worker`: one worker process, configured only from the environment. An invalid environment
 * exits 2 with one message listing every bad variable; SIGTERM/SIGINT let running jobs finish within
 * WORKER_SHUTDOWN_MS, then close the engine and connections.
 */
await runMain(
  async () => {
    const config = loadWorkerConfig();
    const running = await startWorker(config);
    return {
      close: () => running.close(),
      logger: running.logger,
      shutdownTimeoutMs: config.WORKER_SHUTDOWN_MS + WORKER_CLOSE_MARGIN_MS,
    };
  },
  { name: 'worker' },
);
