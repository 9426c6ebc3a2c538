import { performance } from 'node:perf_hooks';

import type * as ort from 'onnxruntime-node';

import { canceledError, EngineError } from '../errors.js';
import { planIo, type IoPlan } from '../model/io.js';
import type { ModelManifest } from '../model/manifest.js';
import { fillGaussian } from '../prng.js';
import { createScheduler } from '../scheduler/index.js';
import { ClipTokenizer } from '../tokenizer/clip.js';
import type { RuntimeOptions } from './options.js';
import { PreviewMaker, type PreviewPixels } from './preview.js';
import { openSession } from './session.js';
import { conditionPrompts, encodeText, type EncodedText, type TextEncoders } from './text-encoding.js';
import { guidanceEmbedding, UnetRunner } from './unet.js';
import { decodeLatents } from './vae.js';

export interface DenoiseRequest {
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  guidance: number;
  /** Generation size in pixels (multiples of the model's pixel multiple). */
  width: number;
  height: number;
}

export interface DenoiseResult {
  /** Decoded image, RGB, 8 bits, row-major HWC. */
  rgb: Uint8Array;
  width: number;
  height: number;
  tokens: { count: number; truncated: number };
  timings: { tokenize: number; textEncode: number; unet: number; unetSteps: number[]; vae: number };
}

export interface StepHooks {
  onStep?: (step: number, total: number) => void;
  /** True once the caller wants the generation stopped; checked between steps. */
  isCanceled?: () => boolean;
  /**
   * Called after each step with the scheduler's estimate of the clean latents ([c, h, w], scaled as the
   * UNet sees them); awaited before the next step (live previews).
   */
  onDenoised?: (step: number, total: number, denoised: Float32Array, shape: LatentShape) => Promise<void>;
}

/** The latent tensor's shape for batch 1. */
export interface LatentShape {
  c: number;
  h: number;
  w: number;
}

/** The text-to-latents-to-pixels pipeline over three open sessions. Lives inside the engine's worker thread. */
export class DiffusionPipeline {
  private readonly text: TextEncoders;
  private readonly unetRunner: UnetRunner;
  private readonly previews: PreviewMaker;

  private constructor(
    readonly manifest: ModelManifest,
    readonly io: IoPlan,
    tokenizers: ClipTokenizer[],
    private readonly textEncoders: ort.InferenceSession[],
    private readonly unet: ort.InferenceSession,
    private readonly vae: ort.InferenceSession,
  ) {
    this.text = { tokenizers, sessions: textEncoders, plans: io.encoders };
    this.unetRunner = new UnetRunner(unet, io.unet, manifest.files.unet, tokenizers[0]!.maxLength);
    this.previews = PreviewMaker.open(manifest, vae, io.vae);
  }

  /** Full-resolution RGB8 of latents [c, h, w] (scaled as the UNet sees them), through the VAE decoder. */
  decode(latents: Float32Array, shape: LatentShape): Promise<Uint8Array> {
    const s = this.manifest.vaeScaleFactor;
    return decodeLatents(
      this.vae,
      this.io.vae,
      this.manifest.files.vaeDecoder,
      latents,
      this.manifest.scalingFactor,
      {
        ...shape,
        width: shape.w * s,
        height: shape.h * s,
      },
    );
  }

  /** Preview pixels of latents (a fitted latent→RGB map, else a low-resolution VAE decode). */
  preview(latents: Float32Array, shape: LatentShape): Promise<PreviewPixels> {
    return this.previews.make(latents, shape);
  }

  static async open(manifest: ModelManifest, runtime: RuntimeOptions): Promise<DiffusionPipeline> {
    const tokenizers = [new ClipTokenizer(manifest.tokenizer)];
    const textEncoders = [await openSession(manifest.dir, manifest.files.textEncoder, runtime)];
    if (manifest.tokenizer2 && manifest.files.textEncoder2) {
      tokenizers.push(new ClipTokenizer(manifest.tokenizer2));
      textEncoders.push(await openSession(manifest.dir, manifest.files.textEncoder2, runtime));
    }
    const unet = await openSession(manifest.dir, manifest.files.unet, runtime);
    const vae = await openSession(manifest.dir, manifest.files.vaeDecoder, runtime);
    const io = planIo({ textEncoders, unet, vae }, manifest.files);
    return new DiffusionPipeline(manifest, io, tokenizers, textEncoders, unet, vae);
  }

  async release(): Promise<void> {
    const results = await Promise.allSettled([
      ...this.textEncoders.map((e) => e.release()),
      this.unet.release(),
      this.vae.release(),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Uses LCM's guidance embedding instead of a second (unconditional) batch row. */
  private usesCfg(guidance: number): boolean {
    return guidance > 1 && this.io.unet.timestepCond === null;
  }

  /** Per-token embeddings of each prompt (all encoders concatenated), and SDXL's pooled embeddings. */
  encodeText(prompts: string[]): Promise<EncodedText> {
    return encodeText(this.text, prompts);
  }

  /** Prompt → latents → decoded RGB at the requested generation size. */
  async generate(req: DenoiseRequest, hooks: StepHooks = {}): Promise<DenoiseResult> {
    const m = this.manifest;
    if (req.width % m.pixelMultiple !== 0 || req.height % m.pixelMultiple !== 0) {
      throw new EngineError(
        'invalid_argument',
        `generation size ${req.width}×${req.height} must be a multiple of ${m.pixelMultiple} pixels`,
      );
    }
    const scheduler = createScheduler(m.scheduler, req.steps);
    const cfg = this.usesCfg(req.guidance);
    const t0 = performance.now();
    const t1 = performance.now();
    const text = await conditionPrompts(
      this.text,
      req.prompt,
      req.negativePrompt,
      cfg,
      this.manifest.forceZerosForEmptyPrompt,
    );
    const t2 = performance.now();

    const h = req.height / m.vaeScaleFactor;
    const w = req.width / m.vaeScaleFactor;
    const c = this.io.unet.latentChannels;
    const size = c * h * w;
    let latents = fillGaussian(new Float32Array(size), req.seed, 0);
    for (let i = 0; i < size; i++) latents[i] = latents[i]! * scheduler.initNoiseSigma;
    const lcm = this.io.unet.timestepCond
      ? guidanceEmbedding(req.guidance, this.io.unet.timestepCond.dim)
      : null;
    const dims = { h, w, pixelH: req.height, pixelW: req.width };
    const noise = (step: number): Float32Array => fillGaussian(new Float32Array(size), req.seed, step + 1);
    const stepTimes: number[] = [];
    let denoised = latents;
    const total = scheduler.timesteps.length;
    for (let i = 0; i < total; i++) {
      if (hooks.isCanceled?.()) throw canceledError();
      const s0 = performance.now();
      const scaled = scheduler.scaleModelInput(latents, i);
      let input = scaled;
      if (cfg) {
        input = new Float32Array(size * 2);
        input.set(scaled, 0);
        input.set(scaled, size);
      }
      const out = await this.unetRunner.run(input, scheduler.timesteps[i]!, text, lcm, dims);
      let eps = out;
      if (cfg) {
        eps = new Float32Array(size);
        const g = req.guidance;
        for (let k = 0; k < size; k++) {
          const u = out[k]!;
          eps[k] = u + g * (out[size + k]! - u);
        }
      }
      const r = scheduler.step(eps, i, latents, noise);
      latents = r.prevSample;
      denoised = r.denoised;
      stepTimes.push(performance.now() - s0);
      hooks.onStep?.(i + 1, total);
      if (hooks.onDenoised) await hooks.onDenoised(i + 1, total, denoised, { c, h, w });
    }
    if (hooks.isCanceled?.()) throw canceledError();
    // LCM decodes its last boundary-conditioned estimate; for the others it equals the final latents.
    const final = m.scheduler.className === 'LCMScheduler' ? denoised : latents;
    const t3 = performance.now();
    const rgb = await decodeLatents(this.vae, this.io.vae, m.files.vaeDecoder, final, m.scalingFactor, {
      c,
      h,
      w,
      width: req.width,
      height: req.height,
    });
    const t4 = performance.now();
    return {
      rgb,
      width: req.width,
      height: req.height,
      tokens: { count: text.tokens, truncated: text.truncated },
      timings: {
        tokenize: t1 - t0,
        textEncode: t2 - t1,
        unet: stepTimes.reduce((a, b) => a + b, 0),
        unetSteps: stepTimes,
        vae: t4 - t3,
      },
    };
  }
}
