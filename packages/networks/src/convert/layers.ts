import { attr } from '../onnx/onnx.js';
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
import {
  batchNormalization,
  conv2d,
  depthwiseConv2d,
  globalAveragePooling2d,
  pooling,
  relu,
  zeroPadding2d,
} from './spatial-layers.js';

export { activation, type KerasLayer, type LayerContext } from './layer-context.js';

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
