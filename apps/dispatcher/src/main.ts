import { runMain } from '@imagegen/observability';

import { loadDispatcherConfig } from './config.js';
import { startDispatcher } from './dispatcher.js';

/**
 * `npm run dispatcher`: background duties, configured only from the environment. An invalid environment
 * exits 2 with one message listing every bad variable.
 */
await runMain(() => startDispatcher(loadDispatcherConfig()), { name: 'dispatcher' });
