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

/** UNet conditioning rows: per-token embeddings [batch, 77, D] and SDXL's pooled [batch, P]. */
interface Conditioning {
  hidden: Float32Array;
  pooled: Float32Array | null;
  batch: number;
}

function repeatRows(row: Float32Array, batch: number): Float32Array {
  const out = new Float32Array(row.length * batch);
  for (let b = 0; b < batch; b++) out.set(row, b * row.length);
  return out;
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
    private readonly tokenizers: ClipTokenizer[],
    private readonly textEncoders: ort.InferenceSession[],
    private readonly unet: ort.InferenceSession,
    private readonly vae: ort.InferenceSession,
  ) {}

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
  async encodeText(prompts: string[]): Promise<Conditioning & { tokens: number; truncated: number }> {
    const batch = prompts.length;
    const seq = this.tokenizers[0]!.maxLength;
    const parts: { hidden: Float32Array; width: number }[] = [];
    let pooled: Float32Array | null = null;
    let tokens = 0;
    let truncated = 0;
    for (const [k, plan] of this.io.encoders.entries()) {
      const tokenizer = this.tokenizers[k]!;
      const encoded = prompts.map((p) => tokenizer.encode(p));
      const flat = encoded.flatMap((e) => e.ids);
      const ids =
        plan.idType === 'int64'
          ? new ort.Tensor(
              'int64',
              BigInt64Array.from(flat, (v) => BigInt(v)),
              [batch, seq],
            )
          : new ort.Tensor('int32', Int32Array.from(flat), [batch, seq]);
      const out = await this.textEncoders[k]!.run({ [plan.input]: ids });
      const hidden = readFloats(out[plan.hidden], plan.file, plan.hidden);
      parts.push({ hidden, width: hidden.length / (batch * seq) });
      if (plan.pooled) pooled = readFloats(out[plan.pooled], plan.file, plan.pooled);
      const last = encoded[encoded.length - 1]!;
      tokens = last.length - 2;
      truncated = last.truncated;
    }
    if (parts.length === 1) return { hidden: parts[0]!.hidden, pooled, batch, tokens, truncated };
    // Concatenate along the feature axis, token by token.
    const width = parts.reduce((a, p) => a + p.width, 0);
    const hidden = new Float32Array(batch * seq * width);
    for (let row = 0; row < batch * seq; row++) {
      let offset = row * width;
      for (const p of parts) {
        hidden.set(p.hidden.subarray(row * p.width, (row + 1) * p.width), offset);
        offset += p.width;
      }
    }
    return { hidden, pooled, batch, tokens, truncated };
  }

  /** The UNet conditioning rows for a generation: [uncond, cond] under guidance, [cond] otherwise. */
  private async condition(
    req: DenoiseRequest,
    cfg: boolean,
  ): Promise<Conditioning & { tokens: number; truncated: number }> {
    if (!cfg) return this.encodeText([req.prompt]);
    if (req.negativePrompt === '' && this.manifest.forceZerosForEmptyPrompt) {
      // SDXL: an absent negative prompt is a zero row (diffusers' force_zeros_for_empty_prompt).
      const cond = await this.encodeText([req.prompt]);
      const hidden = new Float32Array(cond.hidden.length * 2);
      hidden.set(cond.hidden, cond.hidden.length);
      let pooled: Float32Array | null = null;
      if (cond.pooled) {
        pooled = new Float32Array(cond.pooled.length * 2);
        pooled.set(cond.pooled, cond.pooled.length);
      }
      return { ...cond, hidden, pooled, batch: 2 };
    }
    return this.encodeText([req.negativePrompt, req.prompt]);
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
    t: number,
    cond: Conditioning,
    lcm: Float32Array | null,
    size: { h: number; w: number; pixelH: number; pixelW: number },
  ): Promise<Float32Array> {
    const u = this.io.unet;
    const batch = cond.batch;
    if (u.maxBatch !== null && batch > u.maxBatch) {
      // Static-batch export: evaluate the rows one at a time.
      const row = (a: Float32Array, b: number) =>
        a.subarray((b * a.length) / batch, ((b + 1) * a.length) / batch);
      const out = new Float32Array(sample.length);
      for (let b = 0; b < batch; b++) {
        const part = await this.runUnet(
          row(sample, b),
          t,
          { hidden: row(cond.hidden, b), pooled: cond.pooled ? row(cond.pooled, b) : null, batch: 1 },
          lcm,
          size,
        );
        out.set(part, (b * sample.length) / batch);
      }
      return out;
    }
    const seq = this.tokenizers[0]!.maxLength;
    const feeds: Record<string, ort.Tensor> = {
      [u.sample]: floatTensor(sample, u.sampleType, [batch, u.latentChannels, size.h, size.w]),
      [u.timestep]: this.timestepTensor(t, batch),
      [u.hidden]: floatTensor(cond.hidden, u.hiddenType, [batch, seq, cond.hidden.length / (batch * seq)]),
    };
    if (u.timestepCond && lcm)
      feeds[u.timestepCond.name] = floatTensor(repeatRows(lcm, batch), u.timestepCond.type, [
        batch,
        lcm.length,
      ]);
    if (u.textEmbeds && cond.pooled) {
      feeds[u.textEmbeds.name] = floatTensor(cond.pooled, u.textEmbeds.type, [
        batch,
        cond.pooled.length / batch,
      ]);
    }
    if (u.timeIds) {
      // SDXL micro-conditioning: original size, crop top-left, target size (all the generation size).
      const ids = new Float32Array([size.pixelH, size.pixelW, 0, 0, size.pixelH, size.pixelW]);
      feeds[u.timeIds.name] = floatTensor(repeatRows(ids, batch), u.timeIds.type, [batch, 6]);
    }
    const out = await this.unet.run(feeds);
    return readFloats(out[u.output], this.manifest.files.unet, u.output);
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
    const text = await this.condition(req, cfg);
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
      const out = await this.runUnet(input, scheduler.timesteps[i]!, text, lcm, dims);
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
