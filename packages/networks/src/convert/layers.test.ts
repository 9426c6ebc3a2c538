import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { float32ToFloat16Bits as toHalf } from '../onnx/half.js';
import { float16ToFloat32, type LayersModelJson, type WeightSpec } from '../tfjs/artifacts.js';
import { convertLayersModel } from './convert.js';

/**
 * One test per layer kind: a small tfjs model with random weights, converted, run by onnxruntime on the same
 * random input as tfjs's own predict; outputs must agree to float32 rounding.
 */

interface Artifacts {
  json: LayersModelJson;
  shards: Map<string, Uint8Array>;
}

async function artifactsOf(model: tf.LayersModel): Promise<Artifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((a) => {
      saved = a;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  const weights = saved!.weightSpecs as WeightSpec[];
  return {
    json: { modelTopology: saved!.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights }] },
    shards: new Map([['w.bin', new Uint8Array(saved!.weightData as ArrayBuffer)]]),
  };
}

let seed = 1;
function randomizeWeights(model: tf.LayersModel): void {
  model.setWeights(
    model.weights.map((w) =>
      /variance/.test(w.name)
        ? tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', seed++)
        : tf.randomUniform(w.shape as number[], -1, 1, 'float32', seed++),
    ),
  );
}

/** Largest |tfjs − onnx| over the output for a random [1, h, w, c] input. */
async function maxError(model: tf.LayersModel, inputShape: number[], a?: Artifacts): Promise<number> {
  const art = a ?? (await artifactsOf(model));
  const session = await ort.InferenceSession.create(convertLayersModel(art.json, art.shards));
  try {
    const x = tf.randomUniform([1, ...inputShape], -1, 1, 'float32', seed++);
    const ref = model.predict(x) as tf.Tensor;
    const nchw = tf.transpose(x, [0, 3, 1, 2]);
    const out = await session.run({
      image: new ort.Tensor('float32', nchw.dataSync() as Float32Array, nchw.shape),
    });
    const got = out[session.outputNames[0]!]!;
    const expected = ref.rank === 4 ? tf.transpose(ref, [0, 3, 1, 2]) : ref;
    expect(got.dims).toEqual(expected.shape);
    const e = expected.dataSync();
    const g = got.data as Float32Array;
    let max = 0;
    for (let i = 0; i < e.length; i++) max = Math.max(max, Math.abs(e[i]! - g[i]!));
    return max;
  } finally {
    await session.release();
  }
}

/** A functional model: input [h, w, c] → `body`. */
function build(inputShape: number[], body: (x: tf.SymbolicTensor) => tf.SymbolicTensor): tf.LayersModel {
  const input = tf.input({ shape: inputShape });
  const model = tf.model({ inputs: input, outputs: body(input) });
  randomizeWeights(model);
  return model;
}

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
  layer.apply(x) as tf.SymbolicTensor;

describe('TensorFlow.js layers → ONNX, layer by layer', () => {
  it('Conv2D: same/valid padding, strides 1 and 2, dilation, fused activation, with and without bias', async () => {
    const m = build([9, 8, 3], (x) => {
      const a = apply(
        tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
        x,
      );
      const b = apply(tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same' }), a);
      const c = apply(
        tf.layers.conv2d({ filters: 3, kernelSize: [1, 2], padding: 'valid', useBias: false }),
        b,
      );
      return apply(tf.layers.conv2d({ filters: 2, kernelSize: 3, dilationRate: 2, padding: 'same' }), c);
    });
    expect(await maxError(m, [9, 8, 3])).toBeLessThan(1e-5);
  });

  it('DepthwiseConv2D: depth multiplier 2, stride 2, with and without bias', async () => {
    const m = build([8, 7, 3], (x) => {
      const a = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }), x);
      return apply(
        tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false }),
        a,
      );
    });
    expect(await maxError(m, [8, 7, 3])).toBeLessThan(1e-5);
  });

  it('BatchNormalization: with and without scale/center', async () => {
    const m = build([5, 5, 4], (x) => {
      const a = apply(tf.layers.batchNormalization({ epsilon: 1e-3 }), x);
      return apply(tf.layers.batchNormalization({ scale: false, center: false }), a);
    });
    expect(await maxError(m, [5, 5, 4])).toBeLessThan(1e-5);
  });

  it('ReLU: plain and capped (max_value 6, MobileNetV2)', async () => {
    const ok = build([4, 4, 2], (x) => {
      const big = apply(tf.layers.conv2d({ filters: 2, kernelSize: 1 }), x);
      return apply(tf.layers.reLU({ maxValue: 6 }), apply(tf.layers.reLU({}), big));
    });
    ok.setWeights([tf.fill([1, 1, 2, 2], 8), tf.fill([2], 1)]); // outputs beyond 6 and below 0
    expect(await maxError(ok, [4, 4, 2])).toBeLessThan(1e-5);
  });

  it('Activation: relu, relu6, sigmoid, tanh, elu, softplus, swish and softmax over channels', async () => {
    for (const activation of [
      'relu',
      'relu6',
      'sigmoid',
      'tanh',
      'elu',
      'softplus',
      'swish',
      'softmax',
    ] as const) {
      const m = build([3, 4, 5], (x) =>
        apply(
          tf.layers.activation({ activation }),
          apply(tf.layers.conv2d({ filters: 5, kernelSize: 1 }), x),
        ),
      );
      expect(await maxError(m, [3, 4, 5]), activation).toBeLessThan(1e-5);
    }
  });

  it('ZeroPadding2D: asymmetric padding', async () => {
    const m = build([4, 5, 2], (x) =>
      apply(
        tf.layers.zeroPadding2d({
          padding: [
            [0, 1],
            [2, 3],
          ],
        }),
        x,
      ),
    );
    expect(await maxError(m, [4, 5, 2])).toBe(0);
  });

  it('AveragePooling2D and MaxPooling2D: valid and same padding (TF excludes the padding from averages)', async () => {
    const m = build([7, 6, 3], (x) => {
      const a = apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x);
      const b = apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }), a);
      const c = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid' }), x);
      const d = apply(tf.layers.averagePooling2d({ poolSize: 2, padding: 'valid' }), c);
      const flat = (t: tf.SymbolicTensor) => apply(tf.layers.flatten(), t);
      return apply(tf.layers.concatenate(), [flat(a), flat(b), flat(d)]);
    });
    expect(await maxError(m, [7, 6, 3])).toBeLessThan(1e-6);
  });

  it('GlobalAveragePooling2D, Flatten (channels_last order), Dropout and Dense with softmax', async () => {
    const m = build([4, 3, 6], (x) => {
      const g = apply(tf.layers.globalAveragePooling2d({}), x);
      const f = apply(tf.layers.flatten(), apply(tf.layers.conv2d({ filters: 2, kernelSize: 1 }), x));
      const d = apply(tf.layers.dropout({ rate: 0.5 }), apply(tf.layers.concatenate(), [g, f]));
      const h = apply(tf.layers.dense({ units: 7, activation: 'relu' }), d);
      return apply(tf.layers.dense({ units: 5, activation: 'softmax', useBias: false }), h);
    });
    expect(await maxError(m, [4, 3, 6])).toBeLessThan(1e-6);
  });

  it('Add and Concatenate', async () => {
    const m = build([5, 4, 3], (x) => {
      const a = apply(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), x);
      const s = apply(tf.layers.add(), [a, x, a]);
      return apply(tf.layers.concatenate({ axis: -1 }), [s, x]);
    });
    expect(await maxError(m, [5, 4, 3])).toBeLessThan(1e-5);
  });

  it('UpSampling2D: nearest, unequal factors', async () => {
    const m = build([3, 4, 2], (x) => apply(tf.layers.upSampling2d({ size: [2, 3] }), x));
    expect(await maxError(m, [3, 4, 2])).toBe(0);
  });

  it("UpscalerJS's custom MultiplyBeta and PixelShuffle4x (tf.depthToSpace NHWC = DepthToSpace DCR)", async () => {
    class MultiplyBeta extends tf.layers.Layer {
      static className = 'MultiplyBeta';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, 0.2);
      }
    }
    class PixelShuffle4x extends tf.layers.Layer {
      static className = 'PixelShuffle4x';
      override computeOutputShape(s: tf.Shape): tf.Shape {
        return [s[0]!, s[1]! * 4, s[2]! * 4, s[3]! / 16];
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.depthToSpace((Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D, 4, 'NHWC');
      }
    }
    tf.serialization.registerClass(MultiplyBeta);
    tf.serialization.registerClass(PixelShuffle4x);
    const m = build([3, 2, 4], (x) => {
      const c = apply(tf.layers.conv2d({ filters: 48, kernelSize: 3, padding: 'same' }), x);
      return apply(new PixelShuffle4x({}), apply(new MultiplyBeta({}), c));
    });
    expect(await maxError(m, [3, 2, 4])).toBeLessThan(1e-5);
  });

  it('reads uint8/uint16-quantized and float16 weights exactly as tfjs dequantizes them', async () => {
    const m = build([6, 6, 3], (x) =>
      apply(
        tf.layers.dense({ units: 3 }),
        apply(tf.layers.flatten(), apply(tf.layers.conv2d({ filters: 4, kernelSize: 3 }), x)),
      ),
    );
    const art = await artifactsOf(m);
    const specs = art.json.weightsManifest[0]!.weights;
    const floats = new Float32Array(art.shards.get('w.bin')!.slice().buffer);
    const parts: Uint8Array[] = [];
    let at = 0;
    specs.forEach((spec, i) => {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const v = floats.subarray(at, at + n);
      at += n;
      const min = Math.min(...v);
      const max = Math.max(...v);
      const kind = (['uint8', 'uint16', 'float16', 'uint8'] as const)[i % 4]!;
      if (kind === 'float16') {
        spec.quantization = { dtype: 'float16' };
        parts.push(new Uint8Array(Uint16Array.from(v, (f) => toHalf(f)).buffer));
      } else {
        const levels = kind === 'uint8' ? 255 : 65535;
        const scale = (max - min) / levels || 1;
        spec.quantization = { dtype: kind, scale, min };
        const q = Array.from(v, (f) => Math.round((f - min) / scale));
        parts.push(kind === 'uint8' ? Uint8Array.from(q) : new Uint8Array(Uint16Array.from(q).buffer));
      }
    });
    const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((o, p) => (bytes.set(p, o), o + p.length), 0);
    const quantized: Artifacts = { json: art.json, shards: new Map([['w.bin', bytes]]) };
    // The reference is tfjs loading the same quantized artifacts.
    const ref = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: art.json.modelTopology as object,
        weightSpecs: specs,
        weightData: bytes.buffer,
      }),
    );
    expect(await maxError(ref, [6, 6, 3], quantized)).toBeLessThan(1e-5);
  });

  it('float16 weight storage: half the file, computes exactly what float32 weights rounded to halves compute', async () => {
    const m = build([5, 4, 3], (x) =>
      apply(
        tf.layers.dense({ units: 16 }),
        apply(
          tf.layers.flatten(),
          apply(tf.layers.batchNormalization(), apply(tf.layers.conv2d({ filters: 64, kernelSize: 3 }), x)),
        ),
      ),
    );
    const art = await artifactsOf(m);
    const halves = Float32Array.from(new Float32Array(art.shards.get('w.bin')!.slice().buffer), (f) =>
      float16ToFloat32(toHalf(f)),
    );
    const rounded: Artifacts = {
      json: art.json,
      shards: new Map([['w.bin', new Uint8Array(halves.buffer)]]),
    };
    const full = convertLayersModel(rounded.json, rounded.shards);
    const half = convertLayersModel(art.json, art.shards, { weightType: 'float16' });
    expect(half.length).toBeLessThan(full.length * 0.6);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 60 }, (_, i) => Math.sin(i)),
      [1, 3, 5, 4],
    );
    const run = async (bytes: Uint8Array) => {
      const s = await ort.InferenceSession.create(bytes);
      try {
        return (await s.run({ image: x }))[s.outputNames[0]!]!.data as Float32Array;
      } finally {
        await s.release();
      }
    };
    const [a, b] = [await run(full), await run(half)];
    expect([...b]).toEqual([...a]);
    // …and the float32 conversion of the rounded weights is tfjs on them, as for every layer above.
    m.setWeights(
      (
        await tf.loadLayersModel(
          tf.io.fromMemory({
            modelTopology: art.json.modelTopology as object,
            weightSpecs: art.json.weightsManifest[0]!.weights as tf.io.WeightsManifestEntry[],
            weightData: halves.buffer,
          }),
        )
      ).getWeights(),
    );
    expect(await maxError(m, [5, 4, 3], rounded)).toBeLessThan(1e-4);
  });

  it('refuses a layer kind it does not know, naming the layer', async () => {
    const m = build([4, 4, 2], (x) =>
      apply(tf.layers.conv2dTranspose({ filters: 2, kernelSize: 2, name: 'deconv' }), x),
    );
    const art = await artifactsOf(m);
    expect(() => convertLayersModel(art.json, art.shards)).toThrow(
      /layer "deconv" \(Conv2DTranspose\): layer kind not supported/,
    );
  });
});
