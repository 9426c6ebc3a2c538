import { EngineError } from './errors.js';
import { resizeBilinearAlignCorners } from './image/bilinear.js';
import { decodeToRgb, encodeImage, resizeRgb, type ImageFormat } from './image/sharp-ops.js';
import { DEFAULT_RUNTIME, type RuntimeOptions } from './runtime/options.js';
import { SafetyChecker, TOLERANCE_LEVELS, type SafetyVerdict } from './runtime/safety.js';
import { UpscalerSet } from './runtime/upscaler.js';

/**
 * The engine's auxiliary networks outside a generation, for operator tools (`imagegen safety`, `imagegen
 * upscale`) and parity tests. Sessions run on the calling thread: fine for a command, not for a server.
 */

/** An image's classifier scores and the verdict at each `safety_tolerance` 0…6. */
export interface SafetyReport {
  scores: Record<string, number>;
  /** Index = tolerance. */
  verdicts: SafetyVerdict[];
}

export class ImageSafetyClassifier {
  private constructor(private readonly checker: SafetyChecker) {}

  /** `dir`: a classifier directory (`model.onnx` + `config.json`) or a Stable Diffusion `safety_checker/`. */
  static async open(dir: string, runtime: Partial<RuntimeOptions> = {}): Promise<ImageSafetyClassifier> {
    return new ImageSafetyClassifier(await SafetyChecker.open(dir, { ...DEFAULT_RUNTIME, ...runtime }));
  }

  /** Classifies interleaved RGB8 of any size, prepared exactly as the engine's safety stage prepares it. */
  async classifyRgb(rgb: Uint8Array, width: number, height: number): Promise<SafetyReport> {
    const spec = this.checker.input;
    const from = { width, height };
    const small =
      spec.resize === 'bilinear_align_corners'
        ? resizeBilinearAlignCorners(rgb, from, spec)
        : await resizeRgb(rgb, from, spec, spec.fit);
    const verdicts: SafetyVerdict[] = [];
    for (let t = 0; t < TOLERANCE_LEVELS; t++) verdicts.push(await this.checker.check(small, t));
    return { scores: verdicts[0]!.scores, verdicts };
  }

  /** Decodes an image file (JPEG, PNG, WebP …) and classifies it. */
  async classifyFile(file: Buffer): Promise<SafetyReport> {
    const { rgb, size } = await decodeToRgb(file);
    return this.classifyRgb(rgb, size.width, size.height);
  }

  async close(): Promise<void> {
    await this.checker.release();
  }
}

export class ImageUpscaler {
  private constructor(private readonly set: UpscalerSet) {}

  /** `dir`: one network (`model.onnx` [+ `config.json`]) or one per scale (`x2/`, `x4/`, `x8/` …). */
  static async open(dir: string, runtime: Partial<RuntimeOptions> = {}): Promise<ImageUpscaler> {
    return new ImageUpscaler(await UpscalerSet.open({ dir }, { ...DEFAULT_RUNTIME, ...runtime }));
  }

  get scales(): number[] {
    return this.set.scales;
  }

  /** The network's exact ×`scale` output of interleaved RGB8 (tiled; no final resize). */
  async upscaleRgb(
    rgb: Uint8Array,
    width: number,
    height: number,
    scale: number,
  ): Promise<{ rgb: Uint8Array; width: number; height: number }> {
    const net = this.set.get(scale);
    if (!net) {
      throw new EngineError(
        'invalid_argument',
        `no ×${scale} network (available: ${this.scales.join(', ')})`,
      );
    }
    return { rgb: await net.upscale(rgb, width, height), width: width * scale, height: height * scale };
  }

  /** Decodes an image file, upscales it by `scale` and encodes the result as `format`. */
  async upscaleFile(
    file: Buffer,
    scale: number,
    format: ImageFormat,
  ): Promise<{ image: Buffer; width: number; height: number }> {
    const { rgb, size } = await decodeToRgb(file);
    const out = await this.upscaleRgb(rgb, size.width, size.height, scale);
    const image = await encodeImage(out.rgb, out, format, {});
    return { image, width: out.width, height: out.height };
  }

  async close(): Promise<void> {
    await this.set.release();
  }
}
