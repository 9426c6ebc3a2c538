export { loadWorkerConfig, WORKER_CLOSE_MARGIN_MS, type WorkerConfig } from './config.js';
export { startWorker, type RunningWorker, type WorkerOverrides } from './compose.js';
export { createWorker, type Worker } from './create-worker.js';
export { EngineHost, type EnginePort } from './engine-host.js';
export { decideFailure, type FailureContext, type FailureDecision } from './failure-policy.js';
export { GenerationProcessor, type AttemptOutcome, type ProcessorDeps } from './processor.js';
