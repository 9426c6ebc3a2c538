import { ConversionError } from '../errors.js';

/**
 * TensorFlow.js layers-model artifacts: `model.json` (`modelTopology` + `weightsManifest`) and the weight
 * shards. Reads the weights exactly as tfjs-core's `io.decodeWeights` does (float32, or the `uint8`/`uint16`
 * affine quantization `value = q × scale + min`, or `float16`).
 */

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

export interface WeightsManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

export interface LayersModelJson {
  modelTopology: unknown;
  weightsManifest: WeightsManifestGroup[];
  format?: string;
}

/**
 * One weight. uint8-quantized weights are kept quantized (the converter stores them as uint8 with a
 * dequantizing Cast → Mul → Add, a quarter of the size); everything else is float32.
 */
export type Weight =
  | { kind: 'float'; shape: number[]; values: Float32Array }
  | { kind: 'uint8'; shape: number[]; values: Uint8Array; scale: number; min: number };

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A half-precision bit pattern as a number (tfjs-core's float16 decoding). */
export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * Decodes every weight of the manifest. `shards` maps each path of `weightsManifest[].paths` to its bytes;
 * within a group the shards are concatenated in order and the weights follow one another.
 */
export function readWeights(
  manifest: readonly WeightsManifestGroup[],
  shards: ReadonlyMap<string, Uint8Array>,
): Map<string, Weight> {
  const out = new Map<string, Weight>();
  for (const group of manifest) {
    const parts = group.paths.map((p) => {
      const s = shards.get(p);
      if (!s) throw new ConversionError(`weight shard "${p}" is missing`);
      return s;
    });
    const total = parts.reduce((a, p) => a + p.length, 0);
    const buf = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      buf.set(p, at);
      at += p.length;
    }
    const view = new DataView(buf.buffer);
    let offset = 0;
    for (const spec of group.weights) {
      const n = size(spec.shape);
      if (spec.dtype !== 'float32') {
        throw new ConversionError(`weight "${spec.name}" has dtype ${spec.dtype}; only float32 is supported`);
      }
      const q = spec.quantization;
      const bytesPer = q ? (q.dtype === 'uint8' ? 1 : 2) : 4;
      if (offset + n * bytesPer > total) {
        throw new ConversionError(`weight "${spec.name}" runs past the end of its shards`);
      }
      if (!q) {
        const values = new Float32Array(n);
        for (let i = 0; i < n; i++) values[i] = view.getFloat32(offset + i * 4, true);
        out.set(spec.name, { kind: 'float', shape: spec.shape, values });
      } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
        if (typeof q.scale !== 'number' || typeof q.min !== 'number') {
          throw new ConversionError(`weight "${spec.name}": quantization needs "scale" and "min"`);
        }
        if (q.dtype === 'uint8') {
          const values = buf.slice(offset, offset + n);
          out.set(spec.name, { kind: 'uint8', shape: spec.shape, values, scale: q.scale, min: q.min });
        } else {
          const values = new Float32Array(n);
          for (let i = 0; i < n; i++) values[i] = view.getUint16(offset + i * 2, true) * q.scale + q.min;
          out.set(spec.name, { kind: 'float', shape: spec.shape, values });
        }
      } else if (q.dtype === 'float16') {
        const values = new Float32Array(n);
        for (let i = 0; i < n; i++) values[i] = float16ToFloat32(view.getUint16(offset + i * 2, true));
        out.set(spec.name, { kind: 'float', shape: spec.shape, values });
      } else {
        throw new ConversionError(`weight "${spec.name}": unsupported quantization ${q.dtype}`);
      }
      offset += n * bytesPer;
    }
  }
  return out;
}

/** The float32 values of a weight, dequantized as tfjs does (in float64, then rounded to float32). */
export function weightValues(w: Weight): Float32Array {
  if (w.kind === 'float') return w.values;
  return Float32Array.from(w.values, (v) => v * w.scale + w.min);
}

/** Reorders a row-major tensor's elements: `perm[k]` is the source axis of destination axis k. */
export function permute<T extends Float32Array | Uint8Array>(
  data: T,
  shape: readonly number[],
  perm: readonly number[],
): { data: T; shape: number[] } {
  const rank = shape.length;
  const dstShape = perm.map((p) => shape[p]!);
  const srcStrides = new Array<number>(rank);
  let s = 1;
  for (let k = rank - 1; k >= 0; k--) {
    srcStrides[k] = s;
    s *= shape[k]!;
  }
  const strideOfDst = perm.map((p) => srcStrides[p]!);
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < data.length; i++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += idx[k]! * strideOfDst[k]!;
    out[i] = data[src]!;
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < dstShape[k]!) break;
      idx[k] = 0;
    }
  }
  return { data: out, shape: dstShape };
}
