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

type Emitter = (ctx: LayerContext) => Value;

function fail(layer: KerasLayer, what: string): never {
  throw new ConversionError(`layer "${layer.name}" (${layer.className}): ${what}`);
}

function pair(layer: KerasLayer, key: string, fallback?: [number, number]): [number, number] {
  const v = layer.config[key] ?? fallback;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x))) return v as [number, number];
  return fail(layer, `"${key}" must be one or two integers`);
}

function only(ctx: LayerContext): Value {
  if (ctx.inputs.length !== 1) fail(ctx.layer, `expects one input, has ${ctx.inputs.length}`);
  return ctx.inputs[0]!;
}

function channelsLast(layer: KerasLayer): void {
  const f = layer.config['data_format'];
  if (f !== undefined && f !== 'channels_last')
    fail(layer, `data_format ${JSON.stringify(f)} is not supported`);
}

/** Keras axis of a channels_last tensor → the NCHW graph's axis. */
function axisOf(layer: KerasLayer, axis: number, rank: number): number {
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

/** ONNX `pads` for a Keras padding mode; 'same' with stride 1 and an odd kernel is symmetric. */
function convPads(
  layer: KerasLayer,
  kernel: [number, number],
  strides: [number, number],
  dilation: [number, number],
): Record<string, Attribute> {
  const padding = layer.config['padding'] ?? 'valid';
  if (padding === 'valid') return {};
  if (padding !== 'same') return fail(layer, `padding ${JSON.stringify(padding)} is not supported`);
  const eff = kernel.map((k, i) => (k - 1) * dilation[i]! + 1);
  if (strides[0] === 1 && strides[1] === 1 && eff.every((k) => k % 2 === 1)) {
    const p = eff.map((k) => (k - 1) / 2);
    return { pads: attr.ints([p[0]!, p[1]!, p[0]!, p[1]!]) };
  }
  // TensorFlow's 'same' puts the odd extra pixel at the end: ONNX's SAME_UPPER.
  return { auto_pad: attr.string('SAME_UPPER') };
}

const conv2d: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  channelsLast(layer);
  if ((layer.config['groups'] ?? 1) !== 1) fail(layer, 'grouped convolution is not supported');
  const kernel = ctx.weight('kernel'); // [kh, kw, in, out]
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  const strides = pair(layer, 'strides', [1, 1]);
  const dilation = pair(layer, 'dilation_rate', [1, 1]);
  const w = b.weight(`${layer.name}/kernel`, kernel, [3, 2, 0, 1], [cout, cin, kh, kw]);
  const inputs = [x.name, w];
  if (layer.config['use_bias'] !== false) {
    inputs.push(b.weight(`${layer.name}/bias`, ctx.weight('bias'), null, [cout]));
  }
  const y = b.node('Conv', inputs, `${layer.name}/conv`, {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(strides),
    dilations: attr.ints(dilation),
    ...convPads(layer, [kh, kw], strides, dilation),
  });
  return activation(b, layer, layer.config['activation'], { name: y, rank: 4 }, layer.name);
};

const depthwiseConv2d: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  channelsLast(layer);
  const kernel = ctx.weight('depthwise_kernel'); // [kh, kw, in, multiplier]
  const [kh, kw, cin, mult] = kernel.shape as [number, number, number, number];
  const strides = pair(layer, 'strides', [1, 1]);
  const dilation = pair(layer, 'dilation_rate', [1, 1]);
  // Output channel c·mult + m of group c: [in, mult, kh, kw] flattened to [in·mult, 1, kh, kw].
  const w = b.weight(`${layer.name}/depthwise_kernel`, kernel, [2, 3, 0, 1], [cin * mult, 1, kh, kw]);
  const inputs = [x.name, w];
  if (layer.config['use_bias'] !== false) {
    inputs.push(b.weight(`${layer.name}/bias`, ctx.weight('bias'), null, [cin * mult]));
  }
  const y = b.node('Conv', inputs, `${layer.name}/conv`, {
    group: attr.int(cin),
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(strides),
    dilations: attr.ints(dilation),
    ...convPads(layer, [kh, kw], strides, dilation),
  });
  return activation(b, layer, layer.config['activation'], { name: y, rank: 4 }, layer.name);
};

const batchNormalization: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  const axis = typeof layer.config['axis'] === 'number' ? layer.config['axis'] : -1;
  if (axisOf(layer, axis, x.rank) !== 1) fail(layer, `normalization over axis ${axis} is not supported`);
  const mean = ctx.weight('moving_mean');
  const c = mean.shape[0]!;
  const ones = (name: string) => b.floats(`${layer.name}/${name}`, [c], new Float32Array(c).fill(1));
  const zeros = (name: string) => b.floats(`${layer.name}/${name}`, [c], new Float32Array(c));
  const gamma =
    layer.config['scale'] !== false
      ? b.weight(`${layer.name}/gamma`, ctx.weight('gamma'), null, [c])
      : ones('gamma');
  const beta =
    layer.config['center'] !== false
      ? b.weight(`${layer.name}/beta`, ctx.weight('beta'), null, [c])
      : zeros('beta');
  const m = b.weight(`${layer.name}/moving_mean`, mean, null, [c]);
  const v = b.weight(`${layer.name}/moving_variance`, ctx.weight('moving_variance'), null, [c]);
  const epsilon = typeof layer.config['epsilon'] === 'number' ? layer.config['epsilon'] : 1e-3;
  const y = b.node('BatchNormalization', [x.name, gamma, beta, m, v], layer.name, {
    epsilon: attr.float(epsilon),
  });
  return { name: y, rank: x.rank };
};

const relu: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  const max = layer.config['max_value'];
  const slope = layer.config['negative_slope'] ?? 0;
  if ((layer.config['threshold'] ?? 0) !== 0) fail(layer, 'a non-zero threshold is not supported');
  if (typeof slope !== 'number') fail(layer, '"negative_slope" must be a number');
  if (slope !== 0) {
    if (max !== null && max !== undefined) fail(layer, 'negative_slope with max_value is not supported');
    return { name: b.node('LeakyRelu', [x.name], layer.name, { alpha: attr.float(slope) }), rank: x.rank };
  }
  if (typeof max === 'number') {
    return { name: b.node('Clip', [x.name, b.scalar(0), b.scalar(max)], layer.name), rank: x.rank };
  }
  return { name: b.node('Relu', [x.name], layer.name), rank: x.rank };
};

const zeroPadding2d: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  channelsLast(layer);
  const p = layer.config['padding'];
  let top: number, bottom: number, left: number, right: number;
  if (typeof p === 'number') [top, bottom, left, right] = [p, p, p, p];
  else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) {
    [top, bottom, left, right] = [p[0], p[0], p[1], p[1]] as number[] as [number, number, number, number];
  } else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2)) {
    [[top, bottom], [left, right]] = p as [[number, number], [number, number]];
  } else return fail(layer, '"padding" must be an integer, two integers or two pairs');
  const pads = b.int64s(`${layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  return { name: b.node('Pad', [x.name, pads], layer.name, { mode: attr.string('constant') }), rank: 4 };
};

function pooling(op: 'AveragePool' | 'MaxPool'): Emitter {
  return (ctx) => {
    const { b, layer } = ctx;
    const x = only(ctx);
    channelsLast(layer);
    const size = pair(layer, 'pool_size', [2, 2]);
    const strides = layer.config['strides'] == null ? size : pair(layer, 'strides');
    const padding = layer.config['padding'] ?? 'valid';
    if (padding !== 'valid' && padding !== 'same')
      fail(layer, `padding ${JSON.stringify(padding)} is not supported`);
    // TensorFlow's average over 'same' padding divides by the pixels inside the image: count_include_pad 0.
    const y = b.node(op, [x.name], layer.name, {
      kernel_shape: attr.ints(size),
      strides: attr.ints(strides),
      ...(padding === 'same' ? { auto_pad: attr.string('SAME_UPPER') } : {}),
    });
    return { name: y, rank: 4 };
  };
}

const globalAveragePooling2d: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  channelsLast(layer);
  const pooled = b.node('GlobalAveragePool', [x.name], `${layer.name}/pool`);
  if (layer.config['keepdims'] === true) return { name: pooled, rank: 4 };
  return { name: b.node('Flatten', [pooled], layer.name, { axis: attr.int(1) }), rank: 2 };
};

const flatten: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  if (x.rank === 2) return x;
  // Keras flattens channels_last (H, W, C) order; the Dense weights that follow expect it.
  const nhwc = b.node('Transpose', [x.name], `${layer.name}/nhwc`, { perm: attr.ints([0, 2, 3, 1]) });
  return { name: b.node('Flatten', [nhwc], layer.name, { axis: attr.int(1) }), rank: 2 };
};

const dense: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  if (x.rank !== 2) fail(layer, `Dense on a rank-${x.rank} input is not supported (Flatten first)`);
  const kernel = ctx.weight('kernel'); // [in, out]
  const [cin, cout] = kernel.shape as [number, number];
  const inputs = [x.name, b.weight(`${layer.name}/kernel`, kernel, null, [cin, cout])];
  if (layer.config['use_bias'] !== false) {
    inputs.push(b.weight(`${layer.name}/bias`, ctx.weight('bias'), null, [cout]));
  }
  const y = b.node(inputs.length === 3 ? 'Gemm' : 'MatMul', inputs, `${layer.name}/matmul`);
  return activation(b, layer, layer.config['activation'], { name: y, rank: 2 }, layer.name);
};

const add: Emitter = (ctx) => {
  if (ctx.inputs.length < 2) fail(ctx.layer, 'Add needs two or more inputs');
  return {
    name: ctx.b.node(
      'Sum',
      ctx.inputs.map((i) => i.name),
      ctx.layer.name,
    ),
    rank: ctx.inputs[0]!.rank,
  };
};

const concatenate: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const rank = ctx.inputs[0]!.rank;
  const axis = typeof layer.config['axis'] === 'number' ? layer.config['axis'] : -1;
  const y = b.node(
    'Concat',
    ctx.inputs.map((i) => i.name),
    layer.name,
    { axis: attr.int(axisOf(layer, axis, rank)) },
  );
  return { name: y, rank };
};

const upSampling2d: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  channelsLast(layer);
  if ((layer.config['interpolation'] ?? 'nearest') !== 'nearest')
    fail(layer, 'only nearest interpolation is supported');
  const [sh, sw] = pair(layer, 'size', [2, 2]);
  const scales = b.floats(`${layer.name}/scales`, [4], Float32Array.of(1, 1, sh, sw));
  // out[y] = in[floor(y / s)], as tf.image.resizeNearestNeighbor with integer factors.
  const y = b.node('Resize', [x.name, '', scales], layer.name, {
    mode: attr.string('nearest'),
    coordinate_transformation_mode: attr.string('asymmetric'),
    nearest_mode: attr.string('floor'),
  });
  return { name: y, rank: 4 };
};

const activationLayer: Emitter = (ctx) =>
  activation(ctx.b, ctx.layer, ctx.layer.config['activation'], only(ctx), ctx.layer.name);

const identity: Emitter = (ctx) => only(ctx);

/** UpscalerJS's ESRGAN "thick" residual scaling: x × beta (0.2). */
const multiplyBeta: Emitter = (ctx) => {
  const x = only(ctx);
  const beta = typeof ctx.layer.config['beta'] === 'number' ? ctx.layer.config['beta'] : 0.2;
  return { name: ctx.b.node('Mul', [x.name, ctx.b.scalar(beta)], ctx.layer.name), rank: x.rank };
};

/** UpscalerJS's `PixelShuffleNx`: tf.depthToSpace(x, N, 'NHWC'), which is ONNX DepthToSpace in DCR mode. */
const pixelShuffle: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  const fromName = /^PixelShuffle(\d+)x$/.exec(layer.className)?.[1];
  const scale = typeof layer.config['scale'] === 'number' ? layer.config['scale'] : Number(fromName);
  if (!Number.isInteger(scale) || scale < 1) fail(layer, 'no block size');
  const y = b.node('DepthToSpace', [x.name], layer.name, {
    blocksize: attr.int(scale),
    mode: attr.string('DCR'),
  });
  return { name: y, rank: 4 };
};

const EMITTERS: Record<string, Emitter> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  BatchNormalization: batchNormalization,
  ReLU: relu,
  Activation: activationLayer,
  ZeroPadding2D: zeroPadding2d,
  AveragePooling2D: pooling('AveragePool'),
  MaxPooling2D: pooling('MaxPool'),
  GlobalAveragePooling2D: globalAveragePooling2d,
  Flatten: flatten,
  Dense: dense,
  Dropout: identity,
  Add: add,
  Concatenate: concatenate,
  UpSampling2D: upSampling2d,
  MultiplyBeta: multiplyBeta,
};

/** The layer kinds the converter translates (plus InputLayer and UpscalerJS's PixelShuffle2x…8x). */
export const SUPPORTED_LAYERS: readonly string[] = [...Object.keys(EMITTERS), 'PixelShuffleNx'];

export function emitterFor(layer: KerasLayer): Emitter {
  if (/^PixelShuffle\d+x$/.test(layer.className)) return pixelShuffle;
  const e = EMITTERS[layer.className];
  if (!e) {
    return fail(layer, `layer kind not supported (supported: InputLayer, ${SUPPORTED_LAYERS.join(', ')})`);
  }
  return e;
}
