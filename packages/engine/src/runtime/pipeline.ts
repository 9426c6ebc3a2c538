import { performance } from 'node:perf_hooks';

import * as ort from 'onnxruntime-node';

import { canceledError, EngineError } from '../errors.js';
import { planIo, type IoPlan } from '../model/io.js';
import type { ModelManifest } from '../model/manifest.js';
import { fillGaussian } from '../prng.js';
import { createScheduler } from '../scheduler/index.js';
import { ClipTokenizer } from '../tokenizer/clip.js';
import type { RuntimeOptions } from './options.js';
import { openSession } from './session.js';
import { floatTensor, readFloats } from './tensors.js';

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
}

/** LCM guidance embedding: sin/cos of w·1000 with w = guidance − 1 (diffusers LCM pipeline). */
export function guidanceEmbedding(guidance: number, dim: number): Float32Array {
  const w = (guidance - 1) * 1000;
  const half = Math.floor(dim / 2);
  const k = Math.log(10000) / (half - 1);
  const out = new Float32Array(dim);
  for (let i = 0; i < half; i++) {
    const a = Math.fround(w * Math.fround(Math.exp(-k * i)));
    out[i] = Math.sin(a);
    out[half + i] = Math.cos(a);
  }
  return out;
}

/** The text-to-latents-to-pixels pipeline over three open sessions. Lives inside the engine's worker thread. */
export class DiffusionPipeline {
  private constructor(
    readonly manifest: ModelManifest,
    readonly io: IoPlan,
    private readonly tokenizer: ClipTokenizer,
    private readonly textEncoder: ort.InferenceSession,
    private readonly unet: ort.InferenceSession,
    private readonly vae: ort.InferenceSession,
  ) {}

  static async open(manifest: ModelManifest, runtime: RuntimeOptions): Promise<DiffusionPipeline> {
    const tokenizer = new ClipTokenizer(manifest.tokenizer);
    const textEncoder = await openSession(manifest.dir, manifest.files.textEncoder, runtime);
    const unet = await openSession(manifest.dir, manifest.files.unet, runtime);
    const vae = await openSession(manifest.dir, manifest.files.vaeDecoder, runtime);
    const io = planIo({ textEncoder, unet, vae }, manifest.files);
    return new DiffusionPipeline(manifest, io, tokenizer, textEncoder, unet, vae);
  }

  async release(): Promise<void> {
    const results = await Promise.allSettled([
      this.textEncoder.release(),
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

  async encodeText(prompts: string[]): Promise<{ hidden: Float32Array; tokens: number; truncated: number }> {
    const { idType, input, output } = this.io.textEncoder;
    const len = this.tokenizer.maxLength;
    const encoded = prompts.map((p) => this.tokenizer.encode(p));
    const flat = encoded.flatMap((e) => e.ids);
    const tensor =
      idType === 'int64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(flat, (v) => BigInt(v)),
            [prompts.length, len],
          )
        : new ort.Tensor('int32', Int32Array.from(flat), [prompts.length, len]);
    const out = await this.textEncoder.run({ [input]: tensor });
    const last = encoded[encoded.length - 1]!;
    return {
      hidden: readFloats(out[output], this.manifest.files.textEncoder, output),
      tokens: last.length - 2,
      truncated: last.truncated,
    };
  }

  private timestepTensor(t: number, batch: number): ort.Tensor {
    const { timestepType, timestepRank } = this.io.unet;
    const dims = timestepRank === 0 ? [] : [batch];
    const n = timestepRank === 0 ? 1 : batch;
    switch (timestepType) {
      case 'int64':
        return new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(Math.round(t))), dims);
      case 'int32':
        return new ort.Tensor('int32', new Int32Array(n).fill(Math.round(t)), dims);
      case 'float32':
      case 'float16':
        return floatTensor(new Float32Array(n).fill(t), timestepType, dims);
    }
  }

  private async runUnet(
    sample: Float32Array,
    batch: number,
    t: number,
    hidden: Float32Array,
    cond: Float32Array | null,
    h: number,
    w: number,
  ): Promise<Float32Array> {
    const u = this.io.unet;
    const file = this.manifest.files.unet;
    if (u.maxBatch !== null && batch > u.maxBatch) {
      // Static-batch export: evaluate the rows one at a time.
      const rowLatent = sample.length / batch;
      const rowHidden = hidden.length / batch;
      const parts: Float32Array[] = [];
      for (let b = 0; b < batch; b++) {
        parts.push(
          await this.runUnet(
            sample.subarray(b * rowLatent, (b + 1) * rowLatent),
            1,
            t,
            hidden.subarray(b * rowHidden, (b + 1) * rowHidden),
            cond,
            h,
            w,
          ),
        );
      }
      const out = new Float32Array(sample.length);
      parts.forEach((p, b) => out.set(p, b * rowLatent));
      return out;
    }
    const seq = this.tokenizer.maxLength;
    const feeds: Record<string, ort.Tensor> = {
      [u.sample]: floatTensor(sample, u.sampleType, [batch, u.latentChannels, h, w]),
      [u.timestep]: this.timestepTensor(t, batch),
      [u.hidden]: floatTensor(hidden, u.hiddenType, [batch, seq, hidden.length / (batch * seq)]),
    };
    if (u.timestepCond && cond) {
      const rows = new Float32Array(cond.length * batch);
      for (let b = 0; b < batch; b++) rows.set(cond, b * cond.length);
      feeds[u.timestepCond.name] = floatTensor(rows, u.timestepCond.type, [batch, cond.length]);
    }
    const out = await this.unet.run(feeds);
    return readFloats(out[u.output], file, u.output);
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
    const prompts = cfg ? [req.negativePrompt, req.prompt] : [req.prompt];
    const t1 = performance.now();
    const text = await this.encodeText(prompts);
    const t2 = performance.now();

    const h = req.height / m.vaeScaleFactor;
    const w = req.width / m.vaeScaleFactor;
    const c = this.io.unet.latentChannels;
    const size = c * h * w;
    let latents = fillGaussian(new Float32Array(size), req.seed, 0);
    for (let i = 0; i < size; i++) latents[i] = latents[i]! * scheduler.initNoiseSigma;
    const cond = this.io.unet.timestepCond
      ? guidanceEmbedding(req.guidance, this.io.unet.timestepCond.dim)
      : null;
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
      const out = await this.runUnet(input, cfg ? 2 : 1, scheduler.timesteps[i]!, text.hidden, cond, h, w);
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
    }
    if (hooks.isCanceled?.()) throw canceledError();
    // LCM decodes its last boundary-conditioned estimate; for the others it equals the final latents.
    const final = m.scheduler.className === 'LCMScheduler' ? denoised : latents;
    const t3 = performance.now();
    const scaledLatents = new Float32Array(size);
    for (let i = 0; i < size; i++) scaledLatents[i] = final[i]! / m.scalingFactor;
    const v = this.io.vae;
    const decoded = await this.vae.run({ [v.input]: floatTensor(scaledLatents, v.inputType, [1, c, h, w]) });
    const pixels = readFloats(decoded[v.output], m.files.vaeDecoder, v.output);
    const rgb = chwToRgb8(pixels, req.width, req.height, (x) => x / 2 + 0.5, m.files.vaeDecoder);
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

/** Planar float RGB (NCHW, batch 1) → interleaved 8-bit RGB, via `map` then clamp to [0,1] and ×255. */
export function chwToRgb8(
  data: Float32Array,
  width: number,
  height: number,
  map: (x: number) => number,
  file: string,
): Uint8Array {
  const plane = width * height;
  if (data.length !== plane * 3) {
    throw new EngineError(
      'bad_model_output',
      `${file}: expected a 3×${height}×${width} image, got ${data.length} values`,
      { file },
    );
  }
  const out = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const x = Math.min(1, Math.max(0, map(data[ch * plane + p]!)));
      out[p * 3 + ch] = Math.round(x * 255);
    }
  }
  return out;
}
