import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { convertLayersModel } from './convert/convert.js';
import { NetworkNotFoundError } from './errors.js';
import { nsfwjsSource, upscalerjsSource, type TfjsSource } from './sources.js';

/** `packages/networks/models`: the converted networks (committed; see the package README section). */
export const MODELS_DIR = fileURLToPath(new URL('../models', import.meta.url));

/** The image safety classifier shipped and used by default. */
export const SAFETY_NETWORK = 'nsfw-mobilenet-v2';

/** The ESRGAN upscalers `UPSCALER=` can name. */
export const UPSCALER_NETWORKS = ['esrgan-slim', 'esrgan-medium', 'esrgan-thick'] as const;
export type UpscalerNetwork = (typeof UPSCALER_NETWORKS)[number];

/** The scales converted for each upscaler: the engine picks the smallest that reaches the target. */
export const UPSCALER_SCALES = [2, 4, 8] as const;

/** nsfwjs's classes, in the order of its output. */
export const NSFW_LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] as const;

/**
 * Per-class thresholds for `safety_tolerance` 0…6 (a score at or above blocks). Reasoning in the README's
 * "Image safety stage": explicit classes (Porn, Hentai) block from low scores at 0–2 and only when the
 * classifier is confident at 5–6; Sexy (suggestive, not explicit) blocks only at 0–1; Drawing and Neutral
 * never block.
 */
export const NSFW_THRESHOLDS: Readonly<Record<string, readonly number[]>> = {
  Porn: [0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.97],
  Hentai: [0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.97],
  Sexy: [0.5, 0.8, 2, 2, 2, 2, 2],
};

interface UpscalerPackage {
  pkg: string;
  /** UpscalerJS model definitions: RDN (slim, medium) work on 0–255 pixels, RRDN (thick) on 0–1. */
  inputRange: 255 | 1;
  /**
   * Weight storage. Thick's 7.2 M float32 parameters are 28 MiB per factor; as float16 (rounded to nearest,
   * computed in float32) they are half that, and its pixels move by at most 0.08 of an 8-bit level.
   */
  weightType: 'float32' | 'float16';
  /**
   * Tile core in input pixels. Thick reads 153 px of context around each tile (its receptive radius), so
   * small tiles would mostly recompute context: 512 makes a 512² image one pass.
   */
  tile: number;
}

const UPSCALER_PACKAGES: Record<UpscalerNetwork, UpscalerPackage> = {
  'esrgan-slim': { pkg: '@upscalerjs/esrgan-slim', inputRange: 255, weightType: 'float32', tile: 128 },
  'esrgan-medium': { pkg: '@upscalerjs/esrgan-medium', inputRange: 255, weightType: 'float32', tile: 128 },
  'esrgan-thick': { pkg: '@upscalerjs/esrgan-thick', inputRange: 1, weightType: 'float16', tile: 512 },
};

export function isUpscalerNetwork(name: string): name is UpscalerNetwork {
  return (UPSCALER_NETWORKS as readonly string[]).includes(name);
}

/**
 * Directory of a converted network in the engine's layouts: the classifier's `model.onnx` + `config.json`,
 * an upscaler's `x2/`, `x4/`, `x8/` (each `model.onnx` + `config.json`). Throws NetworkNotFoundError, with
 * the command that produces it, when this installation does not have it.
 */
export function networkDir(name: string, root = MODELS_DIR): string {
  const dir = join(root, name);
  const probe = name === SAFETY_NETWORK ? join(dir, 'model.onnx') : join(dir, 'x2', 'model.onnx');
  if (!existsSync(probe)) {
    const pkg = isUpscalerNetwork(name) ? UPSCALER_PACKAGES[name].pkg : 'nsfwjs';
    throw new NetworkNotFoundError(
      `network ${name} is not installed in ${root}: run \`npm install --no-save ${pkg} && npm run convert -w @imagegen/networks -- ${name}\``,
    );
  }
  return dir;
}

function provenance(src: TfjsSource, what: string): Record<string, string> {
  return {
    source_package: `${src.pkg}@${src.version}`,
    source_license: src.license,
    source_model: what,
    converter: '@imagegen/networks convertLayersModel',
  };
}

/**
 * Longest chain of spatial context a network's convolutions read around an output pixel, in input pixels.
 * Used as the tile padding, so a tiled pass equals a whole-image pass exactly. A convolution after an
 * upsampling by S (UpSampling2D, PixelShuffleN×) reads k output pixels around, ⌈k / S⌉ input pixels: the
 * ESRGANs' last 3×3 convolution, at output resolution, adds one.
 */
export function receptiveRadius(json: TfjsSource['json']): number {
  const topo = json.modelTopology as {
    model_config: {
      config: {
        layers: {
          class_name: string;
          name: string;
          config: Record<string, unknown>;
          inbound_nodes: unknown[][][];
        }[];
      };
    };
  };
  /** Per layer: context radius in input pixels, and the upsampling factor of its output. */
  const seen = new Map<string, { radius: number; scale: number }>();
  let result = 0;
  for (const l of topo.model_config.config.layers) {
    const ins = (l.inbound_nodes[0] ?? []).map(
      (c) => seen.get((c as [string])[0]) ?? { radius: 0, scale: 1 },
    );
    let radius = ins.length ? Math.max(...ins.map((i) => i.radius)) : 0;
    let scale = ins.length ? Math.min(...ins.map((i) => i.scale)) : 1;
    const shuffle = /^PixelShuffle(\d+)x$/.exec(l.class_name)?.[1];
    if (shuffle) scale *= Number(shuffle);
    if (l.class_name === 'UpSampling2D') {
      const size = l.config['size'];
      scale *= Array.isArray(size) ? Math.min(...(size as number[])) : typeof size === 'number' ? size : 2;
    }
    if (l.class_name === 'Conv2D') {
      const k = l.config['kernel_size'] as [number, number];
      radius += Math.ceil(Math.floor((Math.max(k[0], k[1]) - 1) / 2) / scale);
    }
    seen.set(l.name, { radius, scale });
    result = Math.max(result, radius);
  }
  return result;
}

/** Converts one network from its installed npm package into `root/<name>/`; returns the files written. */
export function buildNetwork(name: string, root = MODELS_DIR): string[] {
  const written: string[] = [];
  const write = (rel: string, data: Uint8Array | string) => {
    const file = join(root, name, rel);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, data);
    written.push(file);
  };
  if (name === SAFETY_NETWORK) {
    const src = nsfwjsSource('mobilenet_v2');
    const onnx = convertLayersModel(src.json, src.shards, {
      outputName: 'scores',
      metadata: {
        docString:
          'nsfwjs MobileNetV2 (224 px): RGB 0–1 NCHW → softmax over Drawing, Hentai, Neutral, Porn, Sexy',
        properties: provenance(src, 'dist/models/mobilenet_v2'),
      },
    });
    write('model.onnx', onnx);
    write(
      'config.json',
      `${JSON.stringify(
        {
          input_size: [224, 224],
          resize: 'bilinear_align_corners',
          mean: [0, 0, 0],
          std: [1, 1, 1],
          labels: NSFW_LABELS,
          activation: 'none',
          thresholds: NSFW_THRESHOLDS,
          categories: { Porn: 'adult', Hentai: 'adult', Sexy: 'adult' },
          source: `${src.pkg}@${src.version} (${src.license})`,
        },
        null,
        2,
      )}\n`,
    );
    return written;
  }
  if (!isUpscalerNetwork(name)) throw new NetworkNotFoundError(`no network named ${name}`);
  const { pkg, inputRange, weightType, tile } = UPSCALER_PACKAGES[name];
  for (const scale of UPSCALER_SCALES) {
    const src = upscalerjsSource(pkg, scale);
    const onnx = convertLayersModel(src.json, src.shards, {
      inputScale: inputRange,
      outputDivisor: inputRange,
      weightType,
      metadata: {
        docString: `${name} ×${scale}: RGB 0–1 NCHW → RGB 0–1 at ${scale}× (DIV2K-trained${weightType === 'float16' ? '; float16 weights, float32 compute' : ''})`,
        properties: provenance(src, `models/x${scale}`),
      },
    });
    write(`x${scale}/model.onnx`, onnx);
    const pad = receptiveRadius(src.json);
    write(
      `x${scale}/config.json`,
      `${JSON.stringify({ scale, tile, tile_pad: pad, source: `${src.pkg}@${src.version} (${src.license})` }, null, 2)}\n`,
    );
  }
  return written;
}
