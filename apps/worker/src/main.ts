import { loadWorkerConfig } from './config.js';
import { startWorker } from './worker.js';

/** `npm run worker`: one worker process, configured only from the environment. */
const config = loadWorkerConfig();
const running = await startWorker(config);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    running.logger.info({ signal }, 'shutting down');
    void running.close().then(() => process.exit(0));
  });
}
