import { float32ToFloat16 } from '../onnx/half.js';
import { attr, DataType, type Attribute, type Initializer, type OnnxNode } from '../onnx/onnx.js';
import { permute, type Weight } from '../tfjs/artifacts.js';

/** A value of the graph being built: its ONNX name and its rank (4 = NCHW image, 2 = [batch, features]). */
export interface Value {
  name: string;
  rank: number;
}

/** Accumulates the nodes and initializers of one ONNX graph, with unique names. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Initializer[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  /**
   * `float16`: float weights are stored as half precision (rounded to nearest) and cast back to float32 in
   * the graph, halving the file; the network still computes in float32.
   */
  constructor(private readonly floatWeights: 'float32' | 'float16' = 'float32') {}

  /** A name not used before, derived from `base`. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  node(
    opType: string,
    inputs: readonly string[],
    outputName: string,
    attributes?: Record<string, Attribute>,
  ): string {
    const out = this.unique(outputName);
    this.nodes.push({ opType, inputs, outputs: [out], name: out, ...(attributes ? { attributes } : {}) });
    return out;
  }

  /** A float32 initializer. */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    const n = this.unique(name);
    this.initializers.push({ name: n, dims, tensor: { type: DataType.FLOAT, data } });
    return n;
  }

  /** An int64 initializer (shapes, pads). */
  int64s(name: string, values: readonly number[]): string {
    const n = this.unique(name);
    this.initializers.push({
      name: n,
      dims: [values.length],
      tensor: { type: DataType.INT64, data: BigInt64Array.from(values, (v) => BigInt(v)) },
    });
    return n;
  }

  /** A float32 scalar constant, shared between the nodes that use the same value. */
  scalar(value: number): string {
    const key = Object.is(value, -0) ? '-0' : String(Math.fround(value));
    const known = this.constants.get(key);
    if (known) return known;
    const n = this.unique(`const_${key}`);
    this.initializers.push({
      name: n,
      dims: [],
      tensor: { type: DataType.FLOAT, data: Float32Array.of(value) },
    });
    this.constants.set(key, n);
    return n;
  }

  /**
   * A weight as a graph value, reordered by `perm` and reshaped to `dims`. A uint8-quantized weight is stored
   * as uint8 and dequantized in the graph (Cast → Mul scale → Add min; onnxruntime folds these constants when
   * it loads the model), so the file holds the quantized bytes the source model shipped. With `float16`
   * storage a float weight is stored as halves and cast to float32 (a Cast onnxruntime also folds).
   */
  weight(name: string, w: Weight, perm: readonly number[] | null, dims: readonly number[]): string {
    if (w.kind === 'float') {
      const data = perm ? permute(w.values, w.shape, perm).data : w.values;
      if (this.floatWeights === 'float32') return this.floats(name, dims, data);
      const h = this.unique(`${name}_half`);
      this.initializers.push({
        name: h,
        dims,
        tensor: { type: DataType.FLOAT16, data: float32ToFloat16(data) },
      });
      return this.node('Cast', [h], name, { to: attr.int(DataType.FLOAT) });
    }
    const data = perm ? permute(w.values, w.shape, perm).data : w.values;
    const q = this.unique(`${name}_quantized`);
    this.initializers.push({ name: q, dims, tensor: { type: DataType.UINT8, data } });
    const f = this.node('Cast', [q], `${name}_cast`, { to: attr.int(DataType.FLOAT) });
    const scaled = this.node('Mul', [f, this.scalar(w.scale)], `${name}_scaled`);
    return this.node('Add', [scaled, this.scalar(w.min)], name);
  }
}
