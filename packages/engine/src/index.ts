/**
 * @imagegen/engine — the ONNX text-to-image pipeline. Knows nothing of HTTP, queues or storage.
 */
export {
  DEFAULT_ABORT_GRACE_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_PREVIEW_MIN_INTERVAL_MS,
  Engine,
  PREVIEW_MAX_SIDE,
} from './engine.js';
export type {
  Preview,
  PreviewHooks,
  PreviewSource,
  EngineInfo,
  EngineOptions,
  EngineStage,
  GenerateEntry,
  GenerateHooks,
  GenerateInput,
  GenerateResult,
  StageTimings,
} from './engine.js';
/** Exit code (`engine.exited`) of a thread that ended itself after being given up inside a request. */
export { ABANDONED_EXIT_CODE } from './runtime/protocol.js';
export { EngineError } from './errors.js';
export type { EngineErrorCode } from './errors.js';
/** Re-exported for callers of the engine: what a lost thread and a missed sharp deadline reject with. */
export { DeadlineExceededError, EngineLostError } from '@imagegen/contracts';
export { ASPECT_RATIOS, ASPECT_RATIO_NAMES, isAspectRatio, pickScale, planResolution } from './plan.js';
export type { AspectRatio, ResolutionPlan, Size } from './plan.js';
export { decodeToRgb, readPngText, type ImageFormat } from './image/sharp-ops.js';
export { readModelDomain } from './model/domain.js';
export { readModelManifest, type ModelManifest } from './model/manifest.js';
export * from './model-files.js';
export {
  applyLatentRgbMap,
  blockMeans,
  fitLatentRgbMap,
  LATENT_RGB_FILE,
  latentRgbFileText,
  latentRgbR2,
  parseLatentRgbMap,
  readLatentRgbMap,
  type FitSample,
  type LatentRgbMap,
} from './preview/latent-rgb.js';
export { FIT_PROMPTS, fitPreviewMap, type FitOptions, type FitReport } from './preview/fit.js';
export { ClipTokenizer, type ClipTokenizerSpec } from './tokenizer/clip.js';
export { createScheduler, parseSchedulerConfig } from './scheduler/index.js';
export type { Scheduler, SchedulerConfig } from './scheduler/index.js';
export { gaussian, philox4x32 } from './prng.js';
export type { ExecutionProvider, RuntimeOptions } from './runtime/options.js';
export type { SafetyVerdict } from './runtime/safety.js';
export { ImageSafetyClassifier, ImageUpscaler, type SafetyReport } from './networks.js';
export { cudaProviderInstalled } from './runtime/session.js';
