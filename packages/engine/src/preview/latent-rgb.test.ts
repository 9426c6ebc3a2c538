import { describe, expect, it } from 'vitest';

import { gaussian } from '../prng.js';
import {
  applyLatentRgbMap,
  blockMeans,
  fitLatentRgbMap,
  latentRgbFileText,
  latentRgbR2,
  parseLatentRgbMap,
  type FitSample,
  type LatentRgbMap,
} from './latent-rgb.js';

const shape = { c: 4, h: 6, w: 5 };
const truth: LatentRgbMap = {
  latentChannels: 4,
  weights: [
    [0.2, -0.1, 0.05, 0.12],
    [-0.08, 0.15, 0.1, -0.03],
    [0.11, 0.02, -0.14, 0.07],
  ],
  bias: [0.5, 0.45, 0.55],
};

/** Latents and the exact colours `truth` gives them (no clamping: inputs stay small). */
function samples(n: number, seed: number): FitSample[] {
  const plane = shape.h * shape.w;
  return Array.from({ length: n }, (_, i) => {
    const latents = gaussian(shape.c * plane, seed + i, 0);
    const colours = new Float64Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < 3; ch++) {
        let v = truth.bias[ch]!;
        for (let k = 0; k < shape.c; k++) v += truth.weights[ch]![k]! * latents[k * plane + p]!;
        colours[p * 3 + ch] = v;
      }
    }
    return { latents, colours };
  });
}

describe('latent→RGB preview map', () => {
  it('recovers an exactly linear decoder by least squares (R² 1 on held-out latents)', () => {
    const { map, r2, positions } = fitLatentRgbMap(samples(8, 1), shape);
    expect(positions).toBe(8 * 30);
    for (let ch = 0; ch < 3; ch++) {
      expect(map.bias[ch]).toBeCloseTo(truth.bias[ch]!, 4);
      for (let k = 0; k < 4; k++) expect(map.weights[ch]![k]).toBeCloseTo(truth.weights[ch]![k]!, 4);
    }
    for (const v of r2) expect(v).toBeGreaterThan(0.9999);
    for (const v of latentRgbR2(map, samples(3, 100), shape)) expect(v).toBeGreaterThan(0.9999);
  });

  it('scores a map that ignores the latents at R² 0 or below', () => {
    const constant: LatentRgbMap = { ...truth, weights: truth.weights.map((row) => row.map(() => 0)) };
    for (const v of latentRgbR2(constant, samples(4, 7), shape)) expect(v).toBeLessThanOrEqual(0.01);
  });

  it('applies the map per latent position, clamped to 0..255', () => {
    const latents = new Float32Array(4 * 2);
    latents[0] = 1; // channel 0, position 0
    latents[2 * 2 + 1] = -100; // channel 2, position 1: drives R to 0 and B to 255
    const rgb = applyLatentRgbMap(truth, latents, { c: 4, h: 1, w: 2 });
    expect(Array.from(rgb.slice(0, 3))).toEqual([
      Math.round((0.5 + 0.2) * 255),
      Math.round((0.45 - 0.08) * 255),
      Math.round((0.55 + 0.11) * 255),
    ]);
    expect(rgb[3]).toBe(0);
    expect(rgb[5]).toBe(255);
    expect(() => applyLatentRgbMap(truth, new Float32Array(16), { c: 16, h: 1, w: 1 })).toThrow(
      /map is for 4 latent channels, the model has 16/,
    );
  });

  it('averages each latent position’s pixel block', () => {
    // 2×1 latents at scale 2: a 4×2 image, left block all 255 red, right block half 100 green.
    const rgb = new Uint8Array(4 * 2 * 3);
    for (let y = 0; y < 2; y++) {
      for (let x = 0; x < 2; x++) rgb[(y * 4 + x) * 3] = 255;
      rgb[(y * 4 + 2) * 3 + 1] = 100;
    }
    const means = blockMeans(rgb, { h: 1, w: 2, scale: 2 });
    expect(Array.from(means)).toEqual([1, 0, 0, 0, 50 / 255, 0].map((v) => expect.closeTo(v, 9) as number));
  });

  it('round-trips through its file, and names what is wrong with a bad one', () => {
    const text = latentRgbFileText(truth, { samples: 3 });
    expect(parseLatentRgbMap(JSON.parse(text))).toEqual(truth);
    const bad = (patch: Record<string, unknown>) => parseLatentRgbMap({ ...JSON.parse(text), ...patch });
    expect(() => bad({ format: 'other' })).toThrow(/format must be "imagegen.latent-rgb"/);
    expect(() => bad({ latent_channels: 0 })).toThrow(/latent_channels must be an integer 1..64/);
    expect(() => bad({ weights: [[1, 2, 3, 4]] })).toThrow(/weights must be 3 rows of 4 finite numbers/);
    expect(() => bad({ bias: [0, 0, null] })).toThrow(/bias must be 3 finite numbers/);
  });
});
