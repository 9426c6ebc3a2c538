import * as ort from 'onnxruntime-node';

import { EngineError } from '../errors.js';
import { float32ToHalf, halfToFloat32 } from '../float16.js';
import type { FloatType } from '../model/io.js';

/** A float tensor of the type the model declares (fp16 data travels as Uint16 bit patterns). */
export function floatTensor(data: Float32Array, type: FloatType, dims: readonly number[]): ort.Tensor {
  return type === 'float16'
    ? new ort.Tensor('float16', float32ToHalf(data), dims)
    : new ort.Tensor('float32', data, dims);
}

/** Float32 copy of a float32/float16 output; rejects NaN/Inf so a broken model fails loudly. */
export function readFloats(value: ort.OnnxValue | undefined, file: string, name: string): Float32Array {
  if (!value || !(value instanceof ort.Tensor)) {
    throw new EngineError('bad_model_output', `${file}: output "${name}" is missing`, { file });
  }
  let out: Float32Array;
  if (value.type === 'float32') out = value.data as Float32Array;
  else if (value.type === 'float16') out = halfToFloat32(value.data as Uint16Array);
  else throw new EngineError('bad_model_output', `${file}: output "${name}" is ${value.type}`, { file });
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) {
      throw new EngineError('bad_model_output', `${file}: output "${name}" contains NaN or Infinity`, {
        file,
      });
    }
  }
  return out;
}
