import * as ort from 'onnxruntime-node';

import type { IoPlan } from '../model/io.js';
import { floatTensor, readFloats } from './tensors.js';
import type { Conditioning } from './text-encoding.js';

/** Latent size (h, w) and the generation size in pixels it decodes to. */
export interface LatentSize {
  h: number;
  w: number;
  pixelH: number;
  pixelW: number;
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

/** One UNet evaluation per call, fed as the session's inputs declare (types, ranks, SDXL/LCM extras). */
export class UnetRunner {
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly plan: IoPlan['unet'],
    /** The UNet's file name, for errors about its output. */
    private readonly file: string,
    /** Token rows per prompt (the tokenizer's max length). */
    private readonly seq: number,
  ) {}

  private timestepTensor(t: number, batch: number): ort.Tensor {
    const { timestepType, timestepRank } = this.plan;
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

  /** The noise prediction for `sample` at timestep `t`, one row per conditioning row. */
  async run(
    sample: Float32Array,
    t: number,
    cond: Conditioning,
    lcm: Float32Array | null,
    size: LatentSize,
  ): Promise<Float32Array> {
    const u = this.plan;
    const batch = cond.batch;
    if (u.maxBatch !== null && batch > u.maxBatch) {
      // Static-batch export: evaluate the rows in chunks of the batch it takes (a batched generation's
      // request then runs exactly as it does alone).
      const step = u.maxBatch;
      const rows = (a: Float32Array, from: number, to: number) =>
        a.subarray((from * a.length) / batch, (to * a.length) / batch);
      const out = new Float32Array(sample.length);
      for (let b = 0; b < batch; b += step) {
        const end = Math.min(batch, b + step);
        const part = await this.run(
          rows(sample, b, end),
          t,
          {
            hidden: rows(cond.hidden, b, end),
            pooled: cond.pooled ? rows(cond.pooled, b, end) : null,
            batch: end - b,
          },
          lcm,
          size,
        );
        out.set(part, (b * sample.length) / batch);
      }
      return out;
    }
    const seq = this.seq;
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
    const out = await this.session.run(feeds);
    return readFloats(out[u.output], this.file, u.output);
  }
}
