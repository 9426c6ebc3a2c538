/**
 * The shipped ONNX networks against the originals running in TensorFlow.js (pure JS, exact but slow, so the
 * inputs are small): classifier scores within 1e-4 of nsfwjs's own preparation (whole image → 224²
 * bilinear, align corners, 0–1) and upscaled pixels within one 8-bit level. Also: the committed files are
 * exactly what the converter makes from the pinned npm packages.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

import { decodeToRgb, ImageSafetyClassifier, ImageUpscaler } from '@imagegen/engine';
import {
  buildNetwork,
  MODELS_DIR,
  networkDir,
  nsfwjsSource,
  packageRoot,
  SAFETY_NETWORK,
  upscalerjsSource,
  type TfjsSource,
} from '@imagegen/networks';

/**
 * UpscalerJS's own definition of one model of a package (`@upscalerjs/esrgan-…/2x` …): its input and output
 * ranges (RDN: 0–255; RRDN thick: 0–1) and, for thick, `setup(tf)`, which registers its custom layers
 * (MultiplyBeta, PixelShuffleN×) with TensorFlow.js.
 */
interface ModelDefinition {
  setup?: (t: typeof tf) => void;
  inputRange: [number, number];
  outputRange: [number, number];
}
const definitionOf = (pkg: string, scale: number): ModelDefinition =>
  createRequire(import.meta.url)(`${pkg}/${scale}x`) as ModelDefinition;

const tmp = mkdtempSync(join(tmpdir(), 'imagegen-networks-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function tfModel(src: TfjsSource): Promise<tf.LayersModel> {
  const weightSpecs = src.json.weightsManifest.flatMap((g) => g.weights);
  const parts = src.json.weightsManifest.flatMap((g) => g.paths.map((p) => src.shards.get(p)!));
  const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => (data.set(p, o), o + p.length), 0);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: src.json.modelTopology as object,
      weightSpecs,
      weightData: data.buffer,
    }),
  );
}

/** Deterministic value noise, octaves summed: a soft "landscape" (sky gradient, hills, texture). */
function landscape(w: number, h: number, seed: number): Uint8Array {
  const lattice = (x: number, y: number) => {
    const n = Math.sin(x * 127.1 + y * 311.7 + seed * 74.7) * 43758.5453;
    return n - Math.floor(n);
  };
  const noise = (x: number, y: number) => {
    const xi = Math.floor(x);
    const yi = Math.floor(y);
    const fx = x - xi;
    const fy = y - yi;
    const sx = fx * fx * (3 - 2 * fx);
    const sy = fy * fy * (3 - 2 * fy);
    const a = lattice(xi, yi) + (lattice(xi + 1, yi) - lattice(xi, yi)) * sx;
    const b = lattice(xi, yi + 1) + (lattice(xi + 1, yi + 1) - lattice(xi, yi + 1)) * sx;
    return a + (b - a) * sy;
  };
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let n = 0;
      for (let o = 0, f = 4 / w, amp = 0.5; o < 5; o++, f *= 2, amp /= 2) n += amp * noise(x * f, y * f);
      const horizon = h * (0.45 + 0.2 * noise(x * (3 / w), 0.5));
      const i = (y * w + x) * 3;
      const rgb =
        y < horizon
          ? [110 + 80 * (y / h) + 40 * n, 150 + 60 * (y / h) + 30 * n, 230 - 20 * n] // sky with clouds
          : [60 + 90 * n, 110 + 80 * n, 40 + 50 * n]; // grass and earth
      out.set(
        rgb.map((v) => Math.max(0, Math.min(255, Math.round(v)))),
        i,
      );
    }
  }
  return out;
}

interface Img {
  name: string;
  rgb: Uint8Array;
  width: number;
  height: number;
}

async function images(): Promise<Img[]> {
  // A real photograph (a hibiscus flower, 128²) that UpscalerJS ships as its test fixture.
  const photo = await decodeToRgb(
    readFileSync(join(packageRoot('@upscalerjs/esrgan-slim')!, 'assets', 'fixture.png')),
  );
  return [
    { name: 'photo', rgb: photo.rgb, width: photo.size.width, height: photo.size.height },
    { name: 'landscape', rgb: landscape(300, 180, 1), width: 300, height: 180 },
    { name: 'landscape-portrait', rgb: landscape(150, 260, 2), width: 150, height: 260 },
  ];
}

function crop(img: Img, x: number, y: number, w: number, h: number): Img {
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    out.set(img.rgb.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  }
  return { name: `${img.name}-crop`, rgb: out, width: w, height: h };
}

describe('converted networks equal the TensorFlow.js originals', () => {
  it('nsfwjs MobileNetV2: every class score within 1e-4 on photographs and natural-looking images', async () => {
    const model = await tfModel(nsfwjsSource());
    const ours = await ImageSafetyClassifier.open(networkDir(SAFETY_NETWORK));
    try {
      let worst = 0;
      for (const img of await images()) {
        // nsfwjs's classify(): pixels / 255, resizeBilinear(…, [224, 224], alignCorners = true), predict.
        const x = tf.tidy(() =>
          tf.image
            .resizeBilinear(
              tf.tensor3d(img.rgb, [img.height, img.width, 3], 'float32').div<tf.Tensor3D>(255),
              [224, 224],
              true,
            )
            .reshape([1, 224, 224, 3]),
        );
        const ref = (model.predict(x) as tf.Tensor).dataSync();
        const got = await ours.classifyRgb(img.rgb, img.width, img.height);
        const labels = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
        labels.forEach((l, i) => (worst = Math.max(worst, Math.abs(got.scores[l]! - ref[i]!))));
        expect(got.verdicts).toHaveLength(7);
      }
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await ours.close();
    }
  });

  const cases: [string, string, number][] = [
    ['esrgan-slim', '@upscalerjs/esrgan-slim', 2],
    ['esrgan-slim', '@upscalerjs/esrgan-slim', 4],
    ['esrgan-slim', '@upscalerjs/esrgan-slim', 8],
    ['esrgan-medium', '@upscalerjs/esrgan-medium', 2],
    ['esrgan-medium', '@upscalerjs/esrgan-medium', 4],
    // 7.2 M parameters in pure-JS TensorFlow.js: two factors, one small crop each (below).
    ['esrgan-thick', '@upscalerjs/esrgan-thick', 2],
    ['esrgan-thick', '@upscalerjs/esrgan-thick', 4],
  ];
  it.each(cases)(
    '%s (%s) ×%i: pixels within one 8-bit level, tiled in 8-px tiles',
    async (name, pkg, scale) => {
      const def = definitionOf(pkg, scale);
      def.setup?.(tf);
      const [inMax, outMax] = [def.inputRange[1], def.outputRange[1]];
      const model = await tfModel(upscalerjsSource(pkg, scale));
      // A copy of the network with tiny tiles, so the comparison also covers the tiling (pad = receptive radius).
      const dir = join(tmp, `${name}-x${scale}`, `x${scale}`);
      rmSync(dir, { recursive: true, force: true });
      const src = join(networkDir(name), `x${scale}`);
      const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as { tile_pad: number };
      mkdirSync(dir, { recursive: true });
      copyFileSync(join(src, 'model.onnx'), join(dir, 'model.onnx'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ scale, tile: 8, tile_pad: cfg.tile_pad }));
      const ours = await ImageUpscaler.open(join(dir, '..'));
      try {
        const all = await images();
        // Thick (7.2 M parameters, seconds per crop in pure-JS tfjs): one 16×12 crop per factor.
        const crops =
          name === 'esrgan-thick'
            ? [scale === 2 ? crop(all[0]!, 42, 32, 16, 12) : crop(all[1]!, 100, 60, 16, 12)]
            : [crop(all[0]!, 40, 30, 20, 14), crop(all[1]!, 100, 60, 18, 12)];
        for (const img of crops) {
          // UpscalerJS's own pre/postprocessing: pixels scaled to the model's input range, output back to 0–255.
          const ref = tf.tidy(() =>
            (
              model.predict(
                tf.tensor4d(img.rgb, [1, img.height, img.width, 3], 'float32').mul(inMax / 255),
              ) as tf.Tensor
            )
              .mul(255 / outMax)
              .clipByValue(0, 255)
              .round(),
          );
          const expected = ref.dataSync();
          const got = await ours.upscaleRgb(img.rgb, img.width, img.height, scale);
          expect([got.width, got.height]).toEqual([img.width * scale, img.height * scale]);
          let worst = 0;
          for (let i = 0; i < expected.length; i++)
            worst = Math.max(worst, Math.abs(got.rgb[i]! - expected[i]!));
          expect(worst, img.name).toBeLessThanOrEqual(1);
        }
      } finally {
        await ours.close();
      }
    },
  );

  it('the committed ONNX files are byte for byte (and their configs exactly) what the converter makes from the pinned npm packages', () => {
    const out = join(tmp, 'rebuilt');
    for (const name of [SAFETY_NETWORK, 'esrgan-slim', 'esrgan-medium', 'esrgan-thick']) {
      for (const file of buildNetwork(name, out)) {
        const rel = file.slice(out.length + 1);
        const committed = readFileSync(join(MODELS_DIR, rel));
        if (rel.endsWith('.json')) {
          // Prettier formats the committed JSON; its content is the converter's.
          expect(JSON.parse(committed.toString()), rel).toEqual(JSON.parse(readFileSync(file, 'utf8')));
        } else expect(readFileSync(file).equals(committed), rel).toBe(true);
      }
    }
  });
});
