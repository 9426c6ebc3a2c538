import { runMain } from '@imagegen/observability';

import { loadWorkerConfig } from './config.js';
import { startWorker } from './compose.js';

/** Room beyond WORKER_SHUTDOWN_MS for closing the engine, BullMQ and Redis after running jobs end. */
const CLOSE_MARGIN_MS = 15_000;

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
      shutdownTimeoutMs: config.WORKER_SHUTDOWN_MS + CLOSE_MARGIN_MS,
    };
  },
  { name: 'worker' },
);
