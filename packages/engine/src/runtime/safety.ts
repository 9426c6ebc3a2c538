import * as ort from 'onnxruntime-node';

import { EngineError } from '../errors.js';
import { asObject, fileExists, readJson, requireFile } from '../model/files.js';
import type { RuntimeOptions } from './options.js';
import { openSession } from './session.js';
import { floatTensor, readFloats } from './tensors.js';

/** Safety tolerance levels of the public API: 0 strictest … 6 most permissive. */
export const TOLERANCE_LEVELS = 7;

/** How the image must be prepared for the classifier (done with sharp on the main thread). */
export interface SafetyInputSpec {
  width: number;
  height: number;
  /** 'fill' resizes to the exact size; 'cover' resizes the short side then centre-crops (CLIP). */
  fit: 'fill' | 'cover';
  /**
   * 'lanczos' (sharp; 'cover' uses bicubic) gives 8-bit pixels; 'bilinear_align_corners' is TensorFlow's
   * `resizeBilinear(…, alignCorners = true)` in float, as nsfwjs prepares its input, so scores equal its own.
   */
  resize: 'lanczos' | 'bilinear_align_corners';
}

export interface SafetyVerdict {
  /** False when no safety model is configured: nothing was checked. */
  checked: boolean;
  flagged: boolean;
  /** The label that decided, when flagged. */
  label: string | null;
  /** The policy category of that label (`adult`, …) from the classifier's `categories`, when flagged. */
  category: string | null;
  /** Per-label probabilities (generic classifiers). */
  scores: Record<string, number>;
}

interface ClassifierConfig {
  kind: 'classifier';
  size: { width: number; height: number };
  mean: [number, number, number];
  std: [number, number, number];
  labels: string[];
  activation: 'softmax' | 'sigmoid' | 'none';
  /** label → threshold per tolerance 0..6; a score at or above it flags the image. */
  thresholds: Map<string, number[]>;
  /** label → policy category reported when that label flags the image (default `adult`). */
  categories: Map<string, string>;
  resize: SafetyInputSpec['resize'];
}

const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

function triple(v: unknown, what: string, file: string): [number, number, number] {
  if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number')) {
    return v as [number, number, number];
  }
  throw new EngineError('model_invalid', `${file}: "${what}" must be three numbers`, { file });
}

function parseClassifierConfig(raw: Record<string, unknown>, file: string): ClassifierConfig {
  const size = raw['input_size'];
  if (
    !Array.isArray(size) ||
    size.length !== 2 ||
    !size.every((x) => Number.isInteger(x) && (x as number) > 0)
  ) {
    throw new EngineError('model_invalid', `${file}: "input_size" must be [height, width]`, { file });
  }
  const labels = raw['labels'];
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string')) {
    throw new EngineError('model_invalid', `${file}: "labels" must list the classifier's output labels`, {
      file,
    });
  }
  const activation = raw['activation'] ?? 'softmax';
  if (activation !== 'softmax' && activation !== 'sigmoid' && activation !== 'none') {
    throw new EngineError('model_invalid', `${file}: "activation" must be softmax, sigmoid or none`, {
      file,
    });
  }
  const th = asObject(raw['thresholds'], `${file} "thresholds"`);
  const thresholds = new Map<string, number[]>();
  for (const [label, v] of Object.entries(th)) {
    if (!labels.includes(label)) {
      throw new EngineError('model_invalid', `${file}: threshold for unknown label "${label}"`, { file });
    }
    const list = typeof v === 'number' ? new Array<number>(TOLERANCE_LEVELS).fill(v) : v;
    if (
      !Array.isArray(list) ||
      list.length !== TOLERANCE_LEVELS ||
      !list.every((x) => typeof x === 'number')
    ) {
      throw new EngineError(
        'model_invalid',
        `${file}: threshold of "${label}" must be a number or ${TOLERANCE_LEVELS} numbers (tolerance 0..6)`,
        { file },
      );
    }
    thresholds.set(label, list);
  }
  if (thresholds.size === 0) {
    throw new EngineError('model_invalid', `${file}: "thresholds" names no label to block`, { file });
  }
  const categories = new Map<string, string>();
  for (const [label, v] of Object.entries(asObject(raw['categories'] ?? {}, `${file} "categories"`))) {
    if (!labels.includes(label) || typeof v !== 'string') {
      throw new EngineError('model_invalid', `${file}: "categories" maps labels to category names`, { file });
    }
    categories.set(label, v);
  }
  const resize = raw['resize'] ?? 'lanczos';
  if (resize !== 'lanczos' && resize !== 'bilinear_align_corners') {
    throw new EngineError('model_invalid', `${file}: "resize" must be lanczos or bilinear_align_corners`, {
      file,
    });
  }
  return {
    kind: 'classifier',
    size: { height: size[0] as number, width: size[1] as number },
    mean: triple(raw['mean'] ?? [0.5, 0.5, 0.5], 'mean', file),
    std: triple(raw['std'] ?? [0.5, 0.5, 0.5], 'std', file),
    labels: labels,
    activation,
    thresholds,
    categories,
    resize,
  };
}

/**
 * The image safety stage: either a generic ONNX classifier described by `config.json`, or the Stable
 * Diffusion `safety_checker` export (inputs `clip_input` and `images`, output `has_nsfw_concepts`).
 */
export class SafetyChecker {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly file: string,
    private readonly classifier: ClassifierConfig | null,
  ) {}

  /** `dir` holds `model.onnx` (+ `config.json` for a generic classifier). */
  static async open(dir: string, runtime: RuntimeOptions): Promise<SafetyChecker> {
    requireFile(dir, 'model.onnx', 'image safety model');
    const session = await openSession(dir, 'model.onnx', runtime);
    const names = session.inputNames;
    if (names.includes('clip_input') && names.includes('images')) {
      if (!session.outputNames.includes('has_nsfw_concepts')) {
        throw new EngineError('model_incompatible', `${dir}/model.onnx: no "has_nsfw_concepts" output`, {
          file: 'model.onnx',
        });
      }
      return new SafetyChecker(session, `${dir}/model.onnx`, null);
    }
    if (!fileExists(dir, 'config.json')) {
      throw new EngineError(
        'model_not_found',
        `config.json is missing next to the image classifier ${dir}/model.onnx (input size, mean/std, labels, thresholds)`,
        { file: 'config.json' },
      );
    }
    const cfg = parseClassifierConfig(
      asObject(readJson(dir, 'config.json', 'classifier settings'), 'config.json'),
      'config.json',
    );
    return new SafetyChecker(session, `${dir}/model.onnx`, cfg);
  }

  get input(): SafetyInputSpec {
    return this.classifier
      ? {
          width: this.classifier.size.width,
          height: this.classifier.size.height,
          fit: 'fill',
          resize: this.classifier.resize,
        }
      : { width: 224, height: 224, fit: 'cover', resize: 'lanczos' };
  }

  /**
   * Classifies an interleaved RGB image (0–255; 8-bit, or float from the bilinear resize) already resized to
   * `input`; `tolerance` 0..6 picks the thresholds.
   */
  async check(rgb: Uint8Array | Float32Array, tolerance: number): Promise<SafetyVerdict> {
    const { width, height } = this.input;
    const plane = width * height;
    const mean = this.classifier?.mean ?? CLIP_MEAN;
    const std = this.classifier?.std ?? CLIP_STD;
    const chw = new Float32Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) chw[c * plane + p] = (rgb[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
    }
    const inputName = this.session.inputNames[0]!;
    if (!this.classifier) {
      const nhwc = Float32Array.from(rgb, (v) => v / 255);
      const out = await this.session.run({
        clip_input: floatTensor(chw, 'float32', [1, 3, height, width]),
        images: new ort.Tensor('float32', nhwc, [1, height, width, 3]),
      });
      const flag = out['has_nsfw_concepts'];
      const flagged = flag instanceof ort.Tensor && Boolean((flag.data as ArrayLike<unknown>)[0]);
      return {
        checked: true,
        flagged,
        label: flagged ? 'nsfw' : null,
        category: flagged ? 'adult' : null,
        scores: {},
      };
    }
    const out = await this.session.run({ [inputName]: floatTensor(chw, 'float32', [1, 3, height, width]) });
    const outName = this.session.outputNames[0]!;
    const logits = readFloats(out[outName], this.file, outName);
    const cfg = this.classifier;
    if (logits.length !== cfg.labels.length) {
      throw new EngineError(
        'bad_model_output',
        `${this.file}: ${logits.length} outputs for ${cfg.labels.length} labels in config.json`,
        { file: this.file },
      );
    }
    const probs = activate(Array.from(logits), cfg.activation);
    const scores: Record<string, number> = {};
    cfg.labels.forEach((l, i) => (scores[l] = probs[i]!));
    let worst: { label: string; margin: number } | null = null;
    for (const [label, list] of cfg.thresholds) {
      const margin = scores[label]! - list[tolerance]!;
      if (margin >= 0 && (!worst || margin > worst.margin)) worst = { label, margin };
    }
    return {
      checked: true,
      flagged: worst !== null,
      label: worst?.label ?? null,
      category: worst ? (cfg.categories.get(worst.label) ?? 'adult') : null,
      scores,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function activate(x: number[], kind: ClassifierConfig['activation']): number[] {
  switch (kind) {
    case 'none':
      return x;
    case 'sigmoid':
      return x.map((v) => 1 / (1 + Math.exp(-v)));
    case 'softmax': {
      const max = Math.max(...x);
      const e = x.map((v) => Math.exp(v - max));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / sum);
    }
  }
}
