import { performance } from 'node:perf_hooks';

import { beforeDeadline } from './deadline.js';
import { canceledError, EngineError } from './errors.js';
import { resizeBilinearAlignCorners } from './image/bilinear.js';
import { encodeImage, encodePreview, MIME_TYPES, resizeRgb } from './image/sharp-ops.js';
import type { ModelManifest } from './model/manifest.js';
import { pickScale, planResolution, type AspectRatio, type ResolutionPlan } from './plan.js';
import { DEFAULT_RUNTIME, type RuntimeOptions } from './runtime/options.js';
import type { LoadedInfo } from './runtime/protocol.js';
import type { SafetyVerdict } from './runtime/safety.js';
import { ThreadClient, type ThreadPreviews } from './runtime/thread-client.js';
import {
  DEFAULT_ABORT_GRACE_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_PREVIEW_MIN_INTERVAL_MS,
  PREVIEW_MAX_SIDE,
  type EngineInfo,
  type EngineOptions,
  type GenerateHooks,
  type GenerateInput,
  type GenerateResult,
  type PreviewHooks,
} from './engine-types.js';

export * from './engine-types.js';

/**
 * The thread side of `PreviewHooks`: pixels from the thread are encoded here (sharp, on libuv's pool, so the
 * thread goes on denoising); `settled()` resolves once every preview was handed out.
 */
function threadPreviews(hooks: PreviewHooks): { thread: ThreadPreviews; settled: () => Promise<void> } {
  if (!Number.isInteger(hooks.everySteps) || hooks.everySteps < 1) {
    throw new EngineError(
      'invalid_argument',
      `previews.everySteps must be an integer ≥ 1, got ${hooks.everySteps}`,
    );
  }
  const encoding = new Set<Promise<void>>();
  const thread: ThreadPreviews = {
    plan: {
      everySteps: hooks.everySteps,
      minIntervalMs: hooks.minIntervalMs ?? DEFAULT_PREVIEW_MIN_INTERVAL_MS,
    },
    wanted: hooks.wanted ?? (() => true),
    onPreview: (p) => {
      const done: Promise<void> = encodePreview(p.rgb, { width: p.width, height: p.height }, PREVIEW_MAX_SIDE)
        .then(({ jpeg, width, height }) =>
          hooks.onPreview({ step: p.step, total: p.total, jpeg, width, height, source: p.source }),
        )
        .catch(() => undefined)
        .finally(() => encoding.delete(done));
      encoding.add(done);
    },
  };
  return {
    thread,
    settled: async () => {
      await Promise.allSettled([...encoding]);
    },
  };
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

  /** The model's native size (its training resolution) and the multiple every generation size is of. */
  get native(): { width: number; height: number; multiple: number } {
    const side = Math.round(Math.sqrt(this.manifest.nativePixels));
    return { width: side, height: side, multiple: this.manifest.pixelMultiple };
  }

  /**
   * One denoising step at the smallest size the model accepts (one `pixelMultiple` square, 64² for Stable
   * Diffusion): every network of the generation runs once end to end, with no upscaling, safety check or
   * encoding. Rejects as a generation would (`bad_model_output` for NaN/Inf, …); resolves to its time.
   */
  async probe(): Promise<{ width: number; height: number; ms: number }> {
    const side = this.manifest.pixelMultiple;
    const started = performance.now();
    await this.thread.generate(
      {
        prompt: 'a test',
        negativePrompt: '',
        seed: 0,
        steps: 1,
        guidance: this.manifest.defaults.guidance,
        width: side,
        height: side,
      },
      {},
      () => undefined,
    );
    return { width: side, height: side, ms: performance.now() - started };
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
    const previews = hooks.previews ? threadPreviews(hooks.previews) : undefined;
    const gen = await this.thread
      .generate(
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
        previews?.thread,
      )
      .finally(() => previews?.settled());
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
