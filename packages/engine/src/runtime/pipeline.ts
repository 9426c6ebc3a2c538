import { performance } from 'node:perf_hooks';

import type * as ort from 'onnxruntime-node';

import { canceledError, EngineError } from '../errors.js';
import { planIo, type IoPlan } from '../model/io.js';
import type { ModelManifest } from '../model/manifest.js';
import { fillGaussian } from '../prng.js';
import { createScheduler } from '../scheduler/index.js';
import { ClipTokenizer } from '../tokenizer/clip.js';
import type { RuntimeOptions } from './options.js';
import { concatConditioning, type BatchOutcome, type BatchState } from './batch.js';
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

  /** Prompt → latents → decoded RGB at the requested generation size (a batch of one). */
  async generate(req: DenoiseRequest, hooks: StepHooks = {}): Promise<DenoiseResult> {
    let outcome: BatchOutcome | undefined;
    await this.generateBatch([{ request: req, hooks }], (_k, o) => {
      outcome = o;
    });
    if (!outcome) throw new EngineError('runtime_failure', 'the generation ended without a result');
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  }

  /**
   * Denoises several compatible requests (same size, steps and guidance) together: each step runs the UNet
   * once on every active request's rows, while each request keeps its own conditioning, seed, noise and
   * scheduler state, so its latents equal its unbatched run's (the UNet treats batch rows independently).
   * A request canceled between steps leaves the batch and the others go on. `onDone` is called once per
   * request, as soon as it is decoded or has failed; the returned promise resolves after the last one.
   */
  async generateBatch(
    items: { request: DenoiseRequest; hooks: StepHooks }[],
    onDone: (index: number, outcome: BatchOutcome) => void,
  ): Promise<void> {
    const first = items[0];
    if (!first) return;
    const m = this.manifest;
    const req0 = first.request;
    const mismatch = items.find(
      ({ request: r }) =>
        r.width !== req0.width ||
        r.height !== req0.height ||
        r.steps !== req0.steps ||
        r.guidance !== req0.guidance,
    );
    const invalid =
      mismatch !== undefined
        ? new EngineError('invalid_argument', 'a batch must share its size, steps and guidance')
        : req0.width % m.pixelMultiple !== 0 || req0.height % m.pixelMultiple !== 0
          ? new EngineError(
              'invalid_argument',
              `generation size ${req0.width}×${req0.height} must be a multiple of ${m.pixelMultiple} pixels`,
            )
          : null;
    if (invalid) {
      items.forEach((_, k) => onDone(k, { error: invalid }));
      return;
    }
    const cfg = this.usesCfg(req0.guidance);
    const h = req0.height / m.vaeScaleFactor;
    const w = req0.width / m.vaeScaleFactor;
    const c = this.io.unet.latentChannels;
    const size = c * h * w;
    const dims = { h, w, pixelH: req0.height, pixelW: req0.width };
    const lcm = this.io.unet.timestepCond
      ? guidanceEmbedding(req0.guidance, this.io.unet.timestepCond.dim)
      : null;

    let states: BatchState[] = [];
    for (const [index, { request: req, hooks }] of items.entries()) {
      try {
        const scheduler = createScheduler(m.scheduler, req.steps);
        const t0 = performance.now();
        const text = await conditionPrompts(
          this.text,
          req.prompt,
          req.negativePrompt,
          cfg,
          this.manifest.forceZerosForEmptyPrompt,
        );
        const latents = fillGaussian(new Float32Array(size), req.seed, 0);
        for (let i = 0; i < size; i++) latents[i] = latents[i]! * scheduler.initNoiseSigma;
        states.push({
          index,
          req,
          hooks,
          scheduler,
          text,
          latents,
          denoised: latents,
          stepTimes: [],
          textEncode: performance.now() - t0,
        });
      } catch (e) {
        onDone(index, { error: e });
      }
    }

    const total = states[0]?.scheduler.timesteps.length ?? 0;
    const rowsPer = cfg ? 2 : 1;
    for (let i = 0; i < total; i++) {
      states = states.filter((s) => {
        if (!s.hooks.isCanceled?.()) return true;
        onDone(s.index, { error: canceledError() });
        return false;
      });
      if (states.length === 0) return;
      const s0 = performance.now();
      // Rows in request order, each request's rows as its unbatched run lays them out ([uncond, cond]).
      const input = new Float32Array(size * rowsPer * states.length);
      states.forEach((s, k) => {
        const scaled = s.scheduler.scaleModelInput(s.latents, i);
        for (let r = 0; r < rowsPer; r++) input.set(scaled, (k * rowsPer + r) * size);
      });
      let out: Float32Array;
      try {
        out = await this.unetRunner.run(
          input,
          states[0]!.scheduler.timesteps[i]!,
          concatConditioning(states.map((s) => s.text)),
          lcm,
          dims,
        );
      } catch (e) {
        for (const s of states) onDone(s.index, { error: e });
        return;
      }
      const elapsed = performance.now() - s0;
      for (const [k, s] of states.entries()) {
        const rows = out.subarray(k * rowsPer * size, (k + 1) * rowsPer * size);
        let eps = rows;
        if (cfg) {
          eps = new Float32Array(size);
          const g = s.req.guidance;
          for (let j = 0; j < size; j++) {
            const u = rows[j]!;
            eps[j] = u + g * (rows[size + j]! - u);
          }
        }
        const noise = (step: number): Float32Array =>
          fillGaussian(new Float32Array(size), s.req.seed, step + 1);
        const r = s.scheduler.step(eps, i, s.latents, noise);
        s.latents = r.prevSample;
        s.denoised = r.denoised;
        s.stepTimes.push(elapsed);
        s.hooks.onStep?.(i + 1, total);
      }
      // Live previews, request by request, before the next step (a request's own hook, so only its own).
      for (const s of states) {
        if (s.hooks.onDenoised) await s.hooks.onDenoised(i + 1, total, s.denoised, { c, h, w });
      }
    }

    for (const s of states) {
      if (s.hooks.isCanceled?.()) {
        onDone(s.index, { error: canceledError() });
        continue;
      }
      try {
        onDone(s.index, { result: await this.decodeState(s, { c, h, w }) });
      } catch (e) {
        onDone(s.index, { error: e });
      }
    }
  }

  private async decodeState(
    s: BatchState,
    shape: { c: number; h: number; w: number },
  ): Promise<DenoiseResult> {
    const m = this.manifest;
    // LCM decodes its last boundary-conditioned estimate; for the others it equals the final latents.
    const final = m.scheduler.className === 'LCMScheduler' ? s.denoised : s.latents;
    const t3 = performance.now();
    const rgb = await decodeLatents(this.vae, this.io.vae, m.files.vaeDecoder, final, m.scalingFactor, {
      ...shape,
      width: s.req.width,
      height: s.req.height,
    });
    const t4 = performance.now();
    return {
      rgb,
      width: s.req.width,
      height: s.req.height,
      tokens: { count: s.text.tokens, truncated: s.text.truncated },
      timings: {
        tokenize: 0,
        textEncode: s.textEncode,
        unet: s.stepTimes.reduce((a, b) => a + b, 0),
        unetSteps: s.stepTimes,
        vae: t4 - t3,
      },
    };
  }
}

export type { BatchOutcome } from './batch.js';
