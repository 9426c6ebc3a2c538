import { ConversionError } from '../errors.js';
import { attr, type Attribute } from '../onnx/onnx.js';
import type { Weight } from '../tfjs/artifacts.js';
import type { GraphBuilder, Value } from './builder.js';

/**
 * One Keras layer (`modelTopology.model_config.config.layers[i]`) translated to ONNX nodes. The graph is
 * NCHW throughout (ONNX's convolution layout); Keras's channels_last axes and kernels are transposed here.
 */
export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
}

export interface LayerContext {
  b: GraphBuilder;
  layer: KerasLayer;
  inputs: Value[];
  /** The layer's weight by its short name (`kernel`, `bias`, `gamma` …), or an error naming it. */
  weight: (short: string) => Weight;
  hasWeight: (short: string) => boolean;
}

export type Emitter = (ctx: LayerContext) => Value;

export function fail(layer: KerasLayer, what: string): never {
  throw new ConversionError(`layer "${layer.name}" (${layer.className}): ${what}`);
}

export function pair(layer: KerasLayer, key: string, fallback?: [number, number]): [number, number] {
  const v = layer.config[key] ?? fallback;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x))) return v as [number, number];
  return fail(layer, `"${key}" must be one or two integers`);
}

export function only(ctx: LayerContext): Value {
  if (ctx.inputs.length !== 1) fail(ctx.layer, `expects one input, has ${ctx.inputs.length}`);
  return ctx.inputs[0]!;
}

export function channelsLast(layer: KerasLayer): void {
  const f = layer.config['data_format'];
  if (f !== undefined && f !== 'channels_last')
    fail(layer, `data_format ${JSON.stringify(f)} is not supported`);
}

/** Keras axis of a channels_last tensor → the NCHW graph's axis. */
export function axisOf(layer: KerasLayer, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(layer, `axis ${axis} is out of range for rank ${rank}`);
  if (rank !== 4) return a;
  return [0, 2, 3, 1][a]!;
}

/** Applies a Keras activation by name to `x`. */
export function activation(b: GraphBuilder, layer: KerasLayer, name: unknown, x: Value, out: string): Value {
  const a = name ?? 'linear';
  const node = (op: string, inputs: string[], attributes?: Record<string, Attribute>): Value => ({
    name: b.node(op, inputs, out, attributes),
    rank: x.rank,
  });
  switch (a) {
    case 'linear':
      return x;
    case 'relu':
      return node('Relu', [x.name]);
    case 'relu6':
      return node('Clip', [x.name, b.scalar(0), b.scalar(6)]);
    case 'sigmoid':
      return node('Sigmoid', [x.name]);
    case 'tanh':
      return node('Tanh', [x.name]);
    case 'elu':
      return node('Elu', [x.name], { alpha: attr.float(1) });
    case 'softplus':
      return node('Softplus', [x.name]);
    case 'swish': {
      const s = b.node('Sigmoid', [x.name], `${out}_sigmoid`);
      return node('Mul', [x.name, s]);
    }
    case 'softmax':
      // Keras softmax is over the last (channels) axis: axis 1 of an NCHW image, 1 of a [batch, n] matrix.
      return node('Softmax', [x.name], { axis: attr.int(x.rank === 4 ? 1 : -1) });
    default:
      return fail(layer, `activation ${JSON.stringify(a)} is not supported`);
  }
}
