import { loadDispatcherConfig, startDispatcher } from './dispatcher.js';

/** `npm run dispatcher`: background duties, configured only from the environment. */
const running = await startDispatcher(loadDispatcherConfig());
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void running.close().then(() => process.exit(0));
  });
}
