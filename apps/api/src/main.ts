import { loadApiConfig } from './config.js';
import { startApi } from './server.js';

/** `npm run api`: one API process, configured only from the environment. */
const running = await startApi(loadApiConfig());
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    running.logger.info({ signal }, 'shutting down');
    void running.close().then(() => process.exit(0));
  });
}
