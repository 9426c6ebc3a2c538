import { beforeDeadline } from './deadline.js';
import {
  DEFAULT_PREVIEW_MIN_INTERVAL_MS,
  PREVIEW_MAX_SIDE,
  type GenerateHooks,
  type GenerateInput,
  type GenerateResult,
  type PreviewHooks,
} from './engine-types.js';
import { canceledError, EngineError } from './errors.js';
import { resizeBilinearAlignCorners } from './image/bilinear.js';
import { encodeImage, encodePreview, MIME_TYPES, resizeRgb } from './image/sharp-ops.js';
import type { ModelManifest } from './model/manifest.js';
import { pickScale, planResolution } from './plan.js';
import type { DenoiseRequest, DenoiseResult } from './runtime/pipeline.js';
import type { LoadedInfo } from './runtime/protocol.js';
import type { SafetyVerdict } from './runtime/safety.js';
import type { ThreadClient, ThreadPreviews } from './runtime/thread-client.js';

/**
 * The engine's stages around the denoising loop: checking an input, encoding live previews, then upscaling,
 * checking and encoding the image.
 */

const UNCHECKED: SafetyVerdict = { checked: false, flagged: false, label: null, category: null, scores: {} };

/**
 * The thread side of `PreviewHooks`: pixels from the thread are encoded here (sharp, on libuv's pool, so the
 * thread goes on denoising); `settled()` resolves once every preview was handed out.
 */
export function threadPreviews(hooks: PreviewHooks): {
  thread: ThreadPreviews;
  settled: () => Promise<void>;
} {
  if (!Number.isInteger(hooks.everySteps) || hooks.everySteps < 1) {
    throw new EngineError(
      'invalid_argument',
      `previews.everySteps must be an integer ≥ 1, got ${hooks.everySteps}`,
    );
  }
  const encoding = new Set<Promise<void>>();
  // Encodes run side by side but are handed out in step order: a later preview's encode can finish first.
  let delivered: Promise<void> = Promise.resolve();
  const thread: ThreadPreviews = {
    plan: {
      everySteps: hooks.everySteps,
      minIntervalMs: hooks.minIntervalMs ?? DEFAULT_PREVIEW_MIN_INTERVAL_MS,
    },
    wanted: hooks.wanted ?? (() => true),
    onPreview: (p) => {
      const t0 = performance.now();
      const encoded = encodePreview(p.rgb, { width: p.width, height: p.height }, PREVIEW_MAX_SIDE).then(
        (e) => ({ ...e, ms: p.ms + (performance.now() - t0) }),
      );
      const done: Promise<void> = delivered
        .then(() => encoded)
        .then(({ jpeg, width, height, ms }) => {
          hooks.onPreview({ step: p.step, total: p.total, jpeg, width, height, source: p.source, ms });
        })
        .catch(() => undefined)
        .finally(() => encoding.delete(done));
      delivered = done;
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

/** What the stages after denoising use of a loaded engine. */
export interface StageContext {
  manifest: ModelManifest;
  loaded: LoadedInfo;
  thread: ThreadClient;
}

/** Checks an input's numbers and turns it into the thread's denoise request. */
export function denoiseRequest(manifest: ModelManifest, input: GenerateInput): DenoiseRequest {
  const steps = input.steps ?? manifest.defaults.steps;
  const guidance = input.guidance ?? manifest.defaults.guidance;
  const tolerance = input.safetyTolerance ?? 2;
  if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > 6) {
    throw new EngineError('invalid_argument', `safetyTolerance must be an integer 0..6, got ${tolerance}`);
  }
  if (!Number.isFinite(guidance) || guidance < 0 || guidance > 50) {
    throw new EngineError('invalid_argument', `guidance must be a number between 0 and 50, got ${guidance}`);
  }
  if (!Number.isInteger(input.seed) || input.seed < 0 || input.seed > 0xffffffff) {
    throw new EngineError('invalid_argument', `seed must be an integer 0..4294967295, got ${input.seed}`);
  }
  const plan = planResolution(manifest, input.aspectRatio);
  return {
    prompt: input.prompt,
    negativePrompt: input.negativePrompt ?? '',
    seed: input.seed,
    steps,
    guidance,
    width: plan.native.width,
    height: plan.native.height,
  };
}

/** Upscales, checks and encodes one denoised image. */
export async function finishGeneration(
  ctx: StageContext,
  input: GenerateInput,
  hooks: GenerateHooks,
  gen: DenoiseResult,
  started: number,
): Promise<GenerateResult> {
  const steps = input.steps ?? ctx.manifest.defaults.steps;
  const guidance = input.guidance ?? ctx.manifest.defaults.guidance;
  const tolerance = input.safetyTolerance ?? 2;
  const plan = planResolution(ctx.manifest, input.aspectRatio);
  const { signal, deadlineAt } = hooks;
  const limits = { signal, deadlineAt };
  const checkpoint = () => {
    if (signal?.aborted) throw canceledError(signal.reason);
  };
  checkpoint();

  hooks.onStage?.('upscaling');
  const u0 = performance.now();
  let rgb = gen.rgb;
  let size = { width: gen.width, height: gen.height };
  // Super-resolve by the smallest factor that reaches the target (else the largest); sharp does the exact
  // resize.
  const factor = pickScale(ctx.loaded.upscaleFactors, size, plan.target);
  if (factor) {
    rgb = await ctx.thread.upscale(rgb, size.width, size.height, factor, limits);
    size = { width: size.width * factor, height: size.height * factor };
    checkpoint();
  }
  // sharp runs on libuv's pool and cannot be stopped: past the deadline the caller is answered and the
  // native work finishes in the background.
  rgb = await beforeDeadline(resizeRgb(rgb, size, plan.target), 'resize', deadlineAt);
  checkpoint();
  const u1 = performance.now();

  let safety = UNCHECKED;
  if (ctx.loaded.safety) {
    hooks.onStage?.('safety_check');
    const spec = ctx.loaded.safety.input;
    const small =
      spec.resize === 'bilinear_align_corners'
        ? resizeBilinearAlignCorners(rgb, plan.target, spec)
        : await beforeDeadline(resizeRgb(rgb, plan.target, spec, spec.fit), 'resize', deadlineAt);
    safety = await ctx.thread.classify(small, tolerance, limits);
    checkpoint();
  }
  const u2 = performance.now();

  hooks.onStage?.('encoding');
  const encoding = encodeImage(rgb, plan.target, input.format, {
    parameters: `${input.prompt}\nSteps: ${steps}, Sampler: ${ctx.manifest.scheduler.className}, CFG scale: ${guidance}, Seed: ${input.seed}, Size: ${plan.native.width}x${plan.native.height}, Upscaled: ${plan.target.width}x${plan.target.height}`,
    imagegen: JSON.stringify({
      prompt: input.prompt,
      negative_prompt: input.negativePrompt ?? '',
      seed: input.seed,
      steps,
      guidance,
      scheduler: ctx.manifest.scheduler.className,
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
