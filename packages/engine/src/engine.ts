import { performance } from 'node:perf_hooks';

import { beforeDeadline } from './deadline.js';
import { canceledError, EngineError } from './errors.js';
import { resizeBilinearAlignCorners } from './image/bilinear.js';
import { encodeImage, MIME_TYPES, resizeRgb, type ImageFormat } from './image/sharp-ops.js';
import type { ModelManifest } from './model/manifest.js';
import { pickScale, planResolution, type AspectRatio, type ResolutionPlan } from './plan.js';
import { DEFAULT_RUNTIME, type RuntimeOptions } from './runtime/options.js';
import type { LoadedInfo } from './runtime/protocol.js';
import type { SafetyVerdict } from './runtime/safety.js';
import { ThreadClient } from './runtime/thread-client.js';

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

const UNCHECKED: SafetyVerdict = { checked: false, flagged: false, label: null, category: null, scores: {} };

/**
 * A loaded text-to-image model. ONNX sessions live in a worker thread; this object plans, orchestrates the
 * stages and encodes with sharp. Concurrent calls are queued in the thread in arrival order.
 */
export class Engine {
  private constructor(
    private readonly thread: ThreadClient,
    private readonly manifest: ModelManifest,
    private readonly loaded: LoadedInfo,
    private readonly runtime: RuntimeOptions,
  ) {}

  /** Loads the model and opens every session; rejects with a clear EngineError on a bad directory. */
  static async load(options: EngineOptions): Promise<Engine> {
    const runtime: RuntimeOptions = { ...DEFAULT_RUNTIME, ...options.runtime };
    const { client, info } = await ThreadClient.start(
      {
        modelDir: options.modelDir,
        runtime,
        safetyModelDir: options.safetyModelDir ?? null,
        defaultSafetyModelDir: options.defaultSafetyModelDir ?? null,
        upscalerDir: options.upscalerDir ?? null,
        defaultUpscalerDir: options.defaultUpscalerDir ?? null,
      },
      {
        entry: options.threadEntry,
        abortGraceMs: options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS,
        closeTimeoutMs: options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
      },
    );
    return new Engine(client, info.manifest, info, runtime);
  }

  /**
   * False once the engine's thread crashed, exited, was given up (a missed deadline, an abort past its grace)
   * or was closed. A dead engine rejects every call with `EngineLostError`; load a new one to go on.
   */
  get alive(): boolean {
    return this.thread.alive;
  }

  /**
   * Resolves with the exit code once the engine's thread has really ended. A thread given up inside a native
   * onnxruntime run ends only when that run returns; until then it keeps its core.
   */
  get exited(): Promise<number> {
    return this.thread.exited;
  }

  get info(): EngineInfo {
    return {
      modelDir: this.manifest.dir,
      pipelineClass: this.manifest.pipelineClass,
      scheduler: this.manifest.scheduler.className,
      defaults: this.manifest.defaults,
      provider: this.runtime.provider,
      upscaleFactor: this.loaded.upscaleFactors.at(-1) ?? null,
      upscaleFactors: this.loaded.upscaleFactors,
      upscaler: this.loaded.upscaler,
      safety: this.loaded.safety,
    };
  }

  plan(aspectRatio: AspectRatio): ResolutionPlan {
    return planResolution(this.manifest, aspectRatio);
  }

  /** Runs one small generation so kernels are initialised before real work arrives. */
  async warmup(): Promise<void> {
    await this.generate({ prompt: 'warm-up', aspectRatio: '1:1', seed: 0, format: 'jpeg', steps: 1 });
  }

  async generate(input: GenerateInput, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    const started = performance.now();
    const steps = input.steps ?? this.manifest.defaults.steps;
    const guidance = input.guidance ?? this.manifest.defaults.guidance;
    const tolerance = input.safetyTolerance ?? 2;
    if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > 6) {
      throw new EngineError('invalid_argument', `safetyTolerance must be an integer 0..6, got ${tolerance}`);
    }
    if (!Number.isFinite(guidance) || guidance < 0 || guidance > 50) {
      throw new EngineError(
        'invalid_argument',
        `guidance must be a number between 0 and 50, got ${guidance}`,
      );
    }
    if (!Number.isInteger(input.seed) || input.seed < 0 || input.seed > 0xffffffff) {
      throw new EngineError('invalid_argument', `seed must be an integer 0..4294967295, got ${input.seed}`);
    }
    const plan = this.plan(input.aspectRatio);
    const { signal, deadlineAt } = hooks;
    const limits = { signal, deadlineAt };
    const checkpoint = () => {
      if (signal?.aborted) throw canceledError(signal.reason);
    };
    hooks.onStage?.('generating');
    const gen = await this.thread.generate(
      {
        prompt: input.prompt,
        negativePrompt: input.negativePrompt ?? '',
        seed: input.seed,
        steps,
        guidance,
        width: plan.native.width,
        height: plan.native.height,
      },
      limits,
      (step, total) => hooks.onStep?.(step, total),
    );
    checkpoint();

    hooks.onStage?.('upscaling');
    const u0 = performance.now();
    let rgb = gen.rgb;
    let size = { width: gen.width, height: gen.height };
    // Super-resolve by the smallest factor that reaches the target (else the largest); sharp does the exact
    // resize.
    const factor = pickScale(this.loaded.upscaleFactors, size, plan.target);
    if (factor) {
      rgb = await this.thread.upscale(rgb, size.width, size.height, factor, limits);
      size = { width: size.width * factor, height: size.height * factor };
      checkpoint();
    }
    // sharp runs on libuv's pool and cannot be stopped: past the deadline the caller is answered and the
    // native work finishes in the background.
    rgb = await beforeDeadline(resizeRgb(rgb, size, plan.target), 'resize', deadlineAt);
    checkpoint();
    const u1 = performance.now();

    let safety = UNCHECKED;
    if (this.loaded.safety) {
      hooks.onStage?.('safety_check');
      const spec = this.loaded.safety.input;
      const small =
        spec.resize === 'bilinear_align_corners'
          ? resizeBilinearAlignCorners(rgb, plan.target, spec)
          : await beforeDeadline(resizeRgb(rgb, plan.target, spec, spec.fit), 'resize', deadlineAt);
      safety = await this.thread.classify(small, tolerance, limits);
      checkpoint();
    }
    const u2 = performance.now();

    hooks.onStage?.('encoding');
    const encoding = encodeImage(rgb, plan.target, input.format, {
      parameters: `${input.prompt}\nSteps: ${steps}, Sampler: ${this.manifest.scheduler.className}, CFG scale: ${guidance}, Seed: ${input.seed}, Size: ${plan.native.width}x${plan.native.height}, Upscaled: ${plan.target.width}x${plan.target.height}`,
      imagegen: JSON.stringify({
        prompt: input.prompt,
        negative_prompt: input.negativePrompt ?? '',
        seed: input.seed,
        steps,
        guidance,
        scheduler: this.manifest.scheduler.className,
        aspect_ratio: input.aspectRatio,
        native: plan.native,
        size: plan.target,
      }),
    });
    const image = await beforeDeadline(encoding, 'encode', deadlineAt);
    const u3 = performance.now();
    const t = gen.timings;
    return {
      image,
      format: input.format,
      mimeType: MIME_TYPES[input.format],
      width: plan.target.width,
      height: plan.target.height,
      native: plan.native,
      seed: input.seed,
      steps,
      guidance,
      tokens: gen.tokens,
      safety,
      timings: {
        tokenize: t.tokenize,
        textEncode: t.textEncode,
        unet: t.unet,
        unetPerStep: t.unetSteps.length ? t.unet / t.unetSteps.length : 0,
        vae: t.vae,
        upscale: u1 - u0,
        safety: u2 - u1,
        encode: u3 - u2,
        total: u3 - started,
      },
    };
  }

  /**
   * Releases every ONNX session and stops the thread; waits at most `closeTimeoutMs` for the thread (which
   * first finishes the requests queued before the close), then gives it up. Safe to call twice.
   */
  async close(): Promise<void> {
    await this.thread.close();
  }
}
