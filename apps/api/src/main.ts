import { runMain } from '@imagegen/observability';

import { loadApiConfig, startApi } from './index.js';

/**
 * `npm run api`: one API process, configured only from the environment. An invalid environment exits 2
 * with one message listing every bad variable; SIGTERM/SIGINT stop listening and end open streams.
 */
await runMain(() => startApi(loadApiConfig()), { name: 'api' });
