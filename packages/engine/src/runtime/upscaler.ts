import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';

import { EngineError } from '../errors.js';
import { planTiles } from '../image/tiles.js';
import { asObject, fileExists, readOptionalJson, requireFile } from '../model/files.js';
import type { ModelManifest } from '../model/manifest.js';
import type { RuntimeOptions } from './options.js';
import { openSession } from './session.js';
import { floatTensor, readFloats } from './tensors.js';

/**
 * Super-resolution network in the Real-ESRGAN convention: RGB float NCHW in [0, 1] → RGB at `scale`×.
 * The scale comes from `upscaler/config.json`, or is measured once at load with a probe input.
 */
export class Upscaler {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly file: string,
    private readonly input: { name: string; type: 'float32' | 'float16' },
    private readonly output: string,
    readonly scale: number,
    private readonly tile: number,
    private readonly pad: number,
    private readonly fixed: { w: number; h: number } | null,
  ) {}

  /** The model directory's own `upscaler/`, or null when it has none. */
  static async open(manifest: ModelManifest, runtime: RuntimeOptions): Promise<Upscaler | null> {
    const file = manifest.files.upscaler;
    const cfg = manifest.upscaler;
    if (!file || !cfg) return null;
    return Upscaler.create(manifest.dir, file, cfg, runtime);
  }

  /** A standalone network directory: `model.onnx` and an optional `config.json` (`scale`, `tile`, `tile_pad`). */
  static async openDir(dir: string, runtime: RuntimeOptions): Promise<Upscaler> {
    requireFile(dir, 'model.onnx', 'upscaler network');
    const raw = asObject(readOptionalJson(dir, 'config.json', 'upscaler config') ?? {}, `${dir}/config.json`);
    const num = (k: string): number | undefined => {
      const v = raw[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new EngineError('model_invalid', `${dir}/config.json: "${k}" must be a non-negative integer`, {
          file: 'config.json',
        });
      }
      return v;
    };
    const cfg = { scale: num('scale') ?? null, tile: num('tile') ?? 192, tilePad: num('tile_pad') ?? 10 };
    return Upscaler.create(dir, 'model.onnx', cfg, runtime);
  }

  private static async create(
    dir: string,
    file: string,
    cfg: { scale: number | null; tile: number; tilePad: number },
    runtime: RuntimeOptions,
  ): Promise<Upscaler> {
    const session = await openSession(dir, file, runtime);
    const inMeta = session.inputMetadata.find((m) => m.isTensor);
    const outMeta = session.outputMetadata.find((m) => m.isTensor);
    if (!inMeta?.isTensor || !outMeta?.isTensor || (inMeta.type !== 'float32' && inMeta.type !== 'float16')) {
      throw new EngineError(
        'model_incompatible',
        `${file}: expected one float image input and one image output`,
        {
          file,
        },
      );
    }
    const shape = inMeta.shape;
    if (shape.length !== 4 || (typeof shape[1] === 'number' && shape[1] !== 3)) {
      throw new EngineError(
        'model_incompatible',
        `${file}: input "${inMeta.name}" must be RGB NCHW [1,3,H,W], has shape [${shape.join(',')}]`,
        { file },
      );
    }
    const fixed =
      typeof shape[2] === 'number' && typeof shape[3] === 'number' ? { w: shape[3], h: shape[2] } : null;
    const up = new Upscaler(
      session,
      file,
      { name: inMeta.name, type: inMeta.type },
      outMeta.name,
      1,
      cfg.tile,
      cfg.tilePad,
      fixed,
    );
    const scale = cfg.scale ?? (await up.probeScale());
    return new Upscaler(session, file, up.input, up.output, scale, cfg.tile, cfg.tilePad, fixed);
  }

  private async probeScale(): Promise<number> {
    const w = this.fixed?.w ?? 16;
    const h = this.fixed?.h ?? 16;
    const out = await this.runTile(new Float32Array(3 * w * h).fill(0.5), w, h);
    const scale = Math.sqrt(out.length / (3 * w * h));
    if (!Number.isInteger(scale) || scale < 1) {
      throw new EngineError(
        'model_incompatible',
        `${this.file}: output is not an integer multiple of the input`,
        {
          file: this.file,
        },
      );
    }
    return scale;
  }

  private async runTile(chw: Float32Array, w: number, h: number): Promise<Float32Array> {
    const out = await this.session.run({
      [this.input.name]: floatTensor(chw, this.input.type, [1, 3, h, w]),
    });
    return readFloats(out[this.output], this.file, this.output);
  }

  /** Upscales an interleaved RGB8 image tile by tile; returns RGB8 at `scale`× the size. */
  async upscale(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
    const s = this.scale;
    const outW = width * s;
    const result = new Uint8Array(outW * height * s * 3);
    for (const t of planTiles(width, height, this.tile, this.pad, this.fixed)) {
      // Read the window (edge-replicated where a fixed-size window exceeds a small image).
      const plane = t.ww * t.wh;
      const chw = new Float32Array(plane * 3);
      for (let yy = 0; yy < t.wh; yy++) {
        const sy = Math.min(height - 1, t.wy + yy);
        for (let xx = 0; xx < t.ww; xx++) {
          const sx = Math.min(width - 1, t.wx + xx);
          const src = (sy * width + sx) * 3;
          const dst = yy * t.ww + xx;
          chw[dst] = rgb[src]! / 255;
          chw[plane + dst] = rgb[src + 1]! / 255;
          chw[2 * plane + dst] = rgb[src + 2]! / 255;
        }
      }
      const out = await this.runTile(chw, t.ww, t.wh);
      const ow = t.ww * s;
      const oplane = ow * t.wh * s;
      if (out.length !== oplane * 3) {
        throw new EngineError(
          'bad_model_output',
          `${this.file}: tile output has ${out.length} values, expected ${oplane * 3}`,
          {
            file: this.file,
          },
        );
      }
      const ox = (t.x - t.wx) * s;
      const oy = (t.y - t.wy) * s;
      for (let yy = 0; yy < t.h * s; yy++) {
        for (let xx = 0; xx < t.w * s; xx++) {
          const src = (oy + yy) * ow + ox + xx;
          const dst = ((t.y * s + yy) * outW + t.x * s + xx) * 3;
          for (let c = 0; c < 3; c++) {
            const v = out[c * oplane + src]!;
            result[dst + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
          }
        }
      }
    }
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The super-resolution networks an engine has: the model's own `upscaler/`, or a network directory — one
 * network (`model.onnx`), or one per scale (`x2/`, `x4/`, `x8/` …, as `@imagegen/networks` ships ESRGAN).
 */
export class UpscalerSet {
  private constructor(readonly networks: readonly Upscaler[]) {}

  static async open(
    source: { dir: string } | { model: ModelManifest } | 'none',
    runtime: RuntimeOptions,
  ): Promise<UpscalerSet> {
    if (source === 'none') return new UpscalerSet([]);
    if ('model' in source) {
      const own = await Upscaler.open(source.model, runtime);
      return new UpscalerSet(own ? [own] : []);
    }
    const { dir } = source;
    if (fileExists(dir, 'model.onnx')) return new UpscalerSet([await Upscaler.openDir(dir, runtime)]);
    const scales = existsSync(dir)
      ? readdirSync(dir)
          .filter((d) => /^x\d+$/.test(d) && fileExists(dir, `${d}/model.onnx`))
          .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
      : [];
    if (scales.length === 0) {
      throw new EngineError(
        'model_not_found',
        `${dir}: no upscaler network (model.onnx, or x2/model.onnx, x4/model.onnx …)`,
        { file: 'model.onnx' },
      );
    }
    const opened: Upscaler[] = [];
    try {
      for (const s of scales) opened.push(await Upscaler.openDir(join(dir, s), runtime));
    } catch (e) {
      await Promise.allSettled(opened.map((u) => u.release()));
      throw e;
    }
    return new UpscalerSet(opened.sort((a, b) => a.scale - b.scale));
  }

  /** Available factors, ascending. */
  get scales(): number[] {
    return this.networks.map((n) => n.scale);
  }

  get(scale: number): Upscaler | undefined {
    return this.networks.find((n) => n.scale === scale);
  }

  async release(): Promise<void> {
    await Promise.allSettled(this.networks.map((n) => n.release()));
  }
}
