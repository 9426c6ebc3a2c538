import { attr, type Attribute } from '../onnx/onnx.js';
import {
  activation,
  axisOf,
  channelsLast,
  fail,
  only,
  pair,
  type Emitter,
  type KerasLayer,
} from './layer-context.js';

/** The spatial layers: convolutions, normalization, padding, pooling. */

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

export const conv2d: Emitter = (ctx) => {
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

export const depthwiseConv2d: Emitter = (ctx) => {
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

export const batchNormalization: Emitter = (ctx) => {
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

export const relu: Emitter = (ctx) => {
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

export const zeroPadding2d: Emitter = (ctx) => {
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

export function pooling(op: 'AveragePool' | 'MaxPool'): Emitter {
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

export const globalAveragePooling2d: Emitter = (ctx) => {
  const { b, layer } = ctx;
  const x = only(ctx);
  channelsLast(layer);
  const pooled = b.node('GlobalAveragePool', [x.name], `${layer.name}/pool`);
  if (layer.config['keepdims'] === true) return { name: pooled, rank: 4 };
  return { name: b.node('Flatten', [pooled], layer.name, { axis: attr.int(1) }), rank: 2 };
};
