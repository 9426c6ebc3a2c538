import type { SerializedEngineError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import type { DenoiseRequest, DenoiseResult } from './pipeline.js';
import type { RuntimeOptions } from './options.js';
import type { SafetyInputSpec, SafetyVerdict } from './safety.js';

/** Data the engine's worker thread starts with. */
export interface WorkerInit {
  modelDir: string;
  runtime: RuntimeOptions;
  /** Directory of an image safety model, or null for the model's own `safety_checker/` (if any). */
  safetyModelDir: string | null;
}

export interface LoadedInfo {
  manifest: ModelManifest;
  upscaleFactor: number | null;
  safety: { kind: 'classifier' | 'sd_safety_checker'; input: SafetyInputSpec } | null;
}

export type WorkerRequest =
  | { id: number; kind: 'generate'; request: DenoiseRequest; cancel: SharedArrayBuffer }
  | { id: number; kind: 'upscale'; rgb: Uint8Array; width: number; height: number }
  | { id: number; kind: 'classify'; rgb: Uint8Array; tolerance: number }
  | { id: number; kind: 'close' };

export type WorkerReply =
  | { kind: 'ready'; info: LoadedInfo }
  | { kind: 'load_failed'; error: SerializedEngineError }
  | { id: number; kind: 'progress'; step: number; total: number }
  | { id: number; kind: 'generated'; result: DenoiseResult }
  | { id: number; kind: 'upscaled'; rgb: Uint8Array }
  | { id: number; kind: 'classified'; verdict: SafetyVerdict }
  | { id: number; kind: 'closed' }
  | { id: number; kind: 'failed'; error: SerializedEngineError };
