import type { ImageFormat } from './image/sharp-ops.js';
import type { AspectRatio } from './plan.js';
import type { RuntimeOptions } from './runtime/options.js';
import type { LoadedInfo } from './runtime/protocol.js';
import type { PreviewSource } from './runtime/preview.js';
import type { SafetyVerdict } from './runtime/safety.js';

/** The engine's options, inputs and results (engine.ts runs them). */

export interface EngineOptions {
  /** A model directory in the diffusers/Optimum ONNX layout. */
  modelDir: string;
  runtime?: Partial<RuntimeOptions>;
  /**
   * An image safety model directory, or false for no image safety check. Default (null): the model's own
   * `safety_checker/`, else `defaultSafetyModelDir`.
   */
  safetyModelDir?: string | false | null;
  /** The classifier used when the model has no `safety_checker/` (the worker: `@imagegen/networks`'s). */
  defaultSafetyModelDir?: string | null;
  /**
   * A super-resolution network directory (`model.onnx`, or `x2/`, `x4/`, `x8/` …), or false for the exact
   * lanczos resize only. Default (null): the model's own `upscaler/`, else `defaultUpscalerDir`.
   */
  upscalerDir?: string | false | null;
  /** The upscaler used when the model has no `upscaler/` (the worker: ESRGAN slim). */
  defaultUpscalerDir?: string | null;
  /**
   * How long an aborted call may go on before its thread is given up (ENGINE_ABORT_GRACE_MS). A thread stuck
   * inside one native onnxruntime run never reaches the next step check. Default 2000.
   */
  abortGraceMs?: number;
  /** How long `close()` waits for the thread to release its sessions before giving it up. Default 5000. */
  closeTimeoutMs?: number;
  /**
   * For instrumentation and fault injection only: a module run in the engine's thread instead of the
   * standard entry. It receives the same `workerData`, whose `standardEntry` is the standard entry's file
   * URL, and must import that URL to run the engine. A `.ts` module is loaded through tsx.
   */
  threadEntry?: URL;
}

/** Default of `EngineOptions.abortGraceMs`. */
export const DEFAULT_ABORT_GRACE_MS = 2000;
/** Default of `EngineOptions.closeTimeoutMs`. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

/** The long side of a live preview, in pixels, at most. */
export const PREVIEW_MAX_SIDE = 256;
/** Default of `PreviewHooks.minIntervalMs`: at most two previews a second. */
export const DEFAULT_PREVIEW_MIN_INTERVAL_MS = 500;

export type { PreviewSource } from './runtime/preview.js';

/** Pipeline stages reported through `onStage`, in order. */
export type EngineStage = 'generating' | 'upscaling' | 'safety_check' | 'encoding';

export interface GenerateInput {
  prompt: string;
  aspectRatio: AspectRatio;
  /** uint32. */
  seed: number;
  format: ImageFormat;
  /** Default: the model's recommended steps. */
  steps?: number;
  /** Classifier-free guidance scale; ≤ 1 runs a single (conditional) pass. Default: the model's. */
  guidance?: number;
  negativePrompt?: string;
  /** 0 (strictest) … 6; picks the image classifier's thresholds. Default 2. */
  safetyTolerance?: number;
}

/**
 * How a generation ends early, and what it rejects with:
 * - `signal` aborted: the `canceled` EngineError, whose `cause` is `signal.reason` — whether the thread stopped
 *   at the next denoising step or, still busy after `abortGraceMs`, was given up (then `engine.alive` is false).
 *   So a caller tells its own abort (a client cancel, its job timeout) from an engine failure by the error.
 * - `deadlineAt` passed during a call into the thread: the thread is given up, and this and every other pending
 *   call reject with `EngineLostError` (its `cause` a `DeadlineExceededError`); `engine.alive` is false.
 * - `deadlineAt` passed before a stage starts, or during a sharp resize/encode: `DeadlineExceededError`; the
 *   engine stays usable.
 * - The thread crashed or exited: `EngineLostError`; `engine.alive` is false.
 */
export interface GenerateHooks {
  signal?: AbortSignal;
  /** Epoch ms by which the generation must finish. Default: none. */
  deadlineAt?: number;
  onStage?: (stage: EngineStage) => void;
  onStep?: (step: number, total: number) => void;
  /** Live previews while denoising; none when absent. */
  previews?: PreviewHooks;
}

/**
 * Live previews of a generation: a small JPEG of the scheduler's current estimate of the clean image (its
 * predicted x0, which shows the composition from the first steps, where the current latents are still
 * mostly noise), made from the model's fitted latent→RGB map (`latent_rgb.json`) or else a low-resolution
 * VAE decode.
 */
export interface PreviewHooks {
  /**
   * At most one preview per this many steps: the first at this step (or, when `wanted()` turns true later,
   * at the first step that sees it), each next one at least this many steps after the previous; never after
   * the last step (the image follows). ≥ 1.
   */
  everySteps: number;
  /** At least this long between two previews. Default 500 (at most twice a second). */
  minIntervalMs?: number;
  /** Read at the start and after each step: false makes none for now (nobody watching). Default: always. */
  wanted?: () => boolean;
  /** Receives each preview (before `generate` resolves); what it throws is ignored. */
  onPreview: (preview: Preview) => void;
}

/** One live preview. */
export interface Preview {
  /** The step it shows (1-based) and the generation's step count. */
  step: number;
  total: number;
  /** JPEG bytes, at most PREVIEW_MAX_SIDE px on the long side. */
  jpeg: Buffer;
  width: number;
  height: number;
  /** How it was made: the fitted map, or a VAE decode. */
  source: PreviewSource;
  /**
   * What it cost in ms: making the pixels in the engine's thread (which holds up the next step) plus the
   * JPEG encode on the main thread (beside the denoising).
   */
  ms: number;
}

/** One generation of `Engine.generateBatch`: its input and its own hooks. */
export interface GenerateEntry {
  input: GenerateInput;
  hooks?: GenerateHooks;
}

/** Per-stage wall time in milliseconds. */
export interface StageTimings {
  tokenize: number;
  textEncode: number;
  unet: number;
  unetPerStep: number;
  vae: number;
  upscale: number;
  safety: number;
  encode: number;
  total: number;
}

export interface GenerateResult {
  image: Buffer;
  format: ImageFormat;
  mimeType: string;
  width: number;
  height: number;
  /** The size the model generated before upscaling. */
  native: { width: number; height: number };
  seed: number;
  steps: number;
  guidance: number;
  tokens: { count: number; truncated: number };
  safety: SafetyVerdict;
  timings: StageTimings;
}

export interface EngineInfo {
  modelDir: string;
  pipelineClass: string;
  scheduler: string;
  defaults: { steps: number; guidance: number };
  provider: RuntimeOptions['provider'];
  /** The largest super-resolution factor, or null when the engine only resizes. */
  upscaleFactor: number | null;
  /** Every factor available, ascending; a generation uses the smallest that reaches its target. */
  upscaleFactors: number[];
  /** 'model' (the model's `upscaler/`) or the network directory; null: exact resize only. */
  upscaler: string | null;
  safety: LoadedInfo['safety'];
}
