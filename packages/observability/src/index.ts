/** @imagegen/observability — the logger and the metrics registry shared by the apps. */
export { createLogger, REDACT_PATHS, type Logger } from './logger.js';
export { createMetrics, type Metrics } from './metrics.js';
export { startOpsServer, type OpsServer } from './ops-server.js';
export { EXIT_INVALID_CONFIGURATION, runMain, type RunMainOptions, type RunningProcess } from './run-main.js';
