/**
 * Seeded Gaussian noise that is identical on every platform.
 *
 * Generator: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), a
 * counter-based generator using only 32-bit integer arithmetic, so results do not depend on the CPU,
 * the OS or floating-point modes. Key = (seed, stream); counter = (block index, 0, 0, 0). Each block
 * yields four uint32 words u0..u3.
 *
 * Normals: each pair (ua, ub) of words becomes two standard normals by Box–Muller in float64:
 * a = (ua + 0.5) / 2^32, b = (ub + 0.5) / 2^32, r = sqrt(-2 ln a), n0 = r cos(2πb), n1 = r sin(2πb),
 * each rounded to float32. `Math.log/cos/sin` are V8's fdlibm ports, deterministic on every platform
 * Node runs on. Value i of a stream is word i of the stream's sequence, so any slice can be produced
 * independently.
 *
 * Streams: 0 = initial latents; 1 + k = the fresh noise of denoising step k (ancestral and LCM samplers).
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 values. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const hilo = aHi * bLo;
  const lohi = aLo * bHi;
  const hihi = aHi * bHi;
  const mid = (lolo >>> 16) + (hilo & 0xffff) + (lohi & 0xffff);
  return (hihi + Math.floor(hilo / 0x10000) + Math.floor(lohi / 0x10000) + Math.floor(mid / 0x10000)) >>> 0;
}

/** Philox4x32 with 10 rounds; returns the four output words. Matches Random123's known-answer vectors. */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

const TWO_POW_32 = 4294967296;

/** Fills `out` with standard normal float32 values from (seed, stream). */
export function fillGaussian(out: Float32Array, seed: number, stream: number): Float32Array {
  if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_POW_32) {
    throw new RangeError(`seed must be an integer in 0..4294967295, got ${seed}`);
  }
  const key: [number, number] = [seed >>> 0, stream >>> 0];
  const n = out.length;
  for (let block = 0, i = 0; i < n; block++) {
    const words = philox4x32([block >>> 0, Math.floor(block / TWO_POW_32) >>> 0, 0, 0], key);
    for (let pair = 0; pair < 2 && i < n; pair++) {
      const a = (words[pair * 2]! + 0.5) / TWO_POW_32;
      const b = (words[pair * 2 + 1]! + 0.5) / TWO_POW_32;
      const r = Math.sqrt(-2 * Math.log(a));
      const theta = 2 * Math.PI * b;
      out[i++] = r * Math.cos(theta);
      if (i < n) out[i++] = r * Math.sin(theta);
    }
  }
  return out;
}

/** A new array of `length` standard normals from (seed, stream). */
export function gaussian(length: number, seed: number, stream: number): Float32Array {
  return fillGaussian(new Float32Array(length), seed, stream);
}
