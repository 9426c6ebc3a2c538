/**
 * @imagegen/engine — the ONNX text-to-image pipeline. Knows nothing of HTTP, queues or storage.
 */
export { Engine } from './engine.js';
export type {
  EngineInfo,
  EngineOptions,
  EngineStage,
  GenerateHooks,
  GenerateInput,
  GenerateResult,
  StageTimings,
} from './engine.js';
export { EngineError } from './errors.js';
export type { EngineErrorCode } from './errors.js';
export { ASPECT_RATIOS, ASPECT_RATIO_NAMES, isAspectRatio, planResolution } from './plan.js';
export type { AspectRatio, ResolutionPlan, Size } from './plan.js';
export { decodeToRgb, readPngText, type ImageFormat } from './image/sharp-ops.js';
export { readModelManifest, type ModelManifest } from './model/manifest.js';
export { ClipTokenizer, type ClipTokenizerSpec } from './tokenizer/clip.js';
export { createScheduler, parseSchedulerConfig } from './scheduler/index.js';
export type { Scheduler, SchedulerConfig } from './scheduler/index.js';
export { gaussian, philox4x32 } from './prng.js';
export type { ExecutionProvider, RuntimeOptions } from './runtime/options.js';
export type { SafetyVerdict } from './runtime/safety.js';
export { cudaProviderInstalled } from './runtime/session.js';
