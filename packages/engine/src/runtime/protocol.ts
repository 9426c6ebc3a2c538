import type { SerializedEngineError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import type { DenoiseRequest, DenoiseResult } from './pipeline.js';
import type { PreviewSource } from './preview.js';
import type { RuntimeOptions } from './options.js';
import type { SafetyInputSpec, SafetyVerdict } from './safety.js';

/**
 * States of the thread's control word (`Int32Array(WorkerInit.control)[0]`), moved only with
 * `Atomics.compareExchange`/`exchange` so that the main thread and the engine thread agree on whether the
 * engine thread may be terminated.
 */
export const THREAD_IDLE = 0;
/** The thread is handling a request and may be inside a native onnxruntime call: never `terminate()` it. */
export const THREAD_BUSY = 1;
/** The main thread gave the thread up: it exits at its next step check or when its request ends. */
export const THREAD_ABANDONED = 2;
/** Exit code of a thread that ended itself after being abandoned. */
export const ABANDONED_EXIT_CODE = 3;

/** Data the engine's worker thread starts with (its `workerData`). */
export interface WorkerInit {
  modelDir: string;
  runtime: RuntimeOptions;
  /** Image safety model: a directory, false for none, null for the model's own `safety_checker/` (if any). */
  safetyModelDir: string | false | null;
  /** Used when `safetyModelDir` is null and the model has no `safety_checker/`. */
  defaultSafetyModelDir: string | null;
  /** Upscaler network directory, false for none (exact resize only), null for the model's own `upscaler/`. */
  upscalerDir: string | false | null;
  /** Used when `upscalerDir` is null and the model has no `upscaler/`. */
  defaultUpscalerDir: string | null;
  /** One Int32 control word: THREAD_IDLE, THREAD_BUSY or THREAD_ABANDONED. */
  control: SharedArrayBuffer;
  /**
   * File URL of the standard thread entry (`worker-main`). A custom `threadEntry` (fault injection,
   * instrumentation) imports it after installing its hooks.
   */
  standardEntry: string;
}

export interface LoadedInfo {
  manifest: ModelManifest;
  /** Super-resolution factors available, ascending (empty: exact resize only). */
  upscaleFactors: number[];
  /** Where the upscaler networks come from: 'model' (its `upscaler/`) or a directory; null when none. */
  upscaler: string | null;
  safety: { kind: 'classifier' | 'sd_safety_checker'; dir: string; input: SafetyInputSpec } | null;
}

/** When the thread makes previews during a generation. */
export interface PreviewPlan {
  /** At least this many steps after the previous preview or the start (never after the last step). */
  everySteps: number;
  /** At least this long between two previews. */
  minIntervalMs: number;
}

/** One request of a `generate` batch. */
export interface GenerateItem {
  id: number;
  request: DenoiseRequest;
  /**
   * Two Int32 words: [0] becomes 1 when the caller cancels this request; [1] is 1 while the caller wants
   * previews (the main thread updates it; the thread reads it before each preview).
   */
  cancel: SharedArrayBuffer;
  previews: PreviewPlan | null;
}

export type WorkerRequest =
  /**
   * Denoises its items together (one batch: same size, steps and guidance); each item is answered under its
   * own id (`progress`, `preview`, then `generated` or `failed`), and its cancel word stops it alone.
   */
  | { id: number; kind: 'generate'; items: GenerateItem[] }
  | { id: number; kind: 'upscale'; rgb: Uint8Array; width: number; height: number; scale: number }
  | { id: number; kind: 'classify'; rgb: Uint8Array | Float32Array; tolerance: number }
  | { id: number; kind: 'close' };

export type WorkerReply =
  | { kind: 'ready'; info: LoadedInfo }
  | { kind: 'load_failed'; error: SerializedEngineError }
  | { id: number; kind: 'progress'; step: number; total: number }
  | {
      id: number;
      kind: 'preview';
      step: number;
      total: number;
      rgb: Uint8Array;
      width: number;
      height: number;
      source: PreviewSource;
      /** How long the thread took to make the pixels. */
      ms: number;
    }
  | { id: number; kind: 'generated'; result: DenoiseResult }
  | { id: number; kind: 'upscaled'; rgb: Uint8Array }
  | { id: number; kind: 'classified'; verdict: SafetyVerdict }
  | { id: number; kind: 'closed' }
  | { id: number; kind: 'failed'; error: SerializedEngineError };
