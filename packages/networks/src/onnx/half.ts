/**
 * float32 → IEEE 754 half precision (binary16), rounded to the nearest half with ties to even, as bit
 * patterns (ONNX stores FLOAT16 tensors' raw data so). Overflow gives ±Infinity, values below half the
 * smallest subnormal (2^-25) ±0, NaN a quiet NaN.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A half subnormal (or zero): units of 2^-24, from the 24-bit significand with its implicit 1.
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    const q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (q + (rem > halfway || (rem === halfway && q & 1) ? 1 : 0));
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa rounds up into the exponent (and past 65504 to Infinity): still correct.
  return sign | (h + (rem > 0x1000 || (rem === 0x1000 && h & 1) ? 1 : 0));
}

export function float32ToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]!);
  return out;
}
