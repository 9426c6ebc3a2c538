import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { EngineError } from '../errors.js';
import { parseSchedulerConfig, type SchedulerConfig } from '../scheduler/index.js';
import { parseMerges, type ClipTokenizerSpec } from '../tokenizer/clip.js';
import { asObject, fileExists, readJson, readOptionalJson, requireFile } from './files.js';

/** Everything the engine needs to know about a model directory before opening any ONNX session. */
export interface ModelManifest {
  dir: string;
  /** `model_index.json` `_class_name`, e.g. OnnxStableDiffusionPipeline. */
  pipelineClass: string;
  tokenizer: ClipTokenizerSpec;
  /** SDXL's second tokenizer (`tokenizer_2/`), present with `text_encoder_2/`. */
  tokenizer2: ClipTokenizerSpec | null;
  /** SDXL: the unconditional row of an empty negative prompt is zeros, not the encoded "" (diffusers default). */
  forceZerosForEmptyPrompt: boolean;
  scheduler: SchedulerConfig;
  /** Relative paths of the ONNX files. */
  files: {
    textEncoder: string;
    textEncoder2: string | null;
    unet: string;
    vaeDecoder: string;
    upscaler: string | null;
    safetyChecker: string | null;
  };
  /** VAE latent scaling factor (0.18215 for SD 1.x/2.x, 0.13025 for SDXL). */
  scalingFactor: number;
  /** Pixels per latent cell (8 for every Stable Diffusion VAE). */
  vaeScaleFactor: number;
  /** Generation sizes must be multiples of this many pixels (VAE factor × UNet downsampling). */
  pixelMultiple: number;
  /** The model's native pixel count (its training resolution squared). */
  nativePixels: number;
  defaults: { steps: number; guidance: number };
  upscaler: { scale: number | null; tile: number; tilePad: number } | null;
}

function tokenFromConfig(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { content?: unknown }).content === 'string'
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

function readTokenizer(dir: string, folder: string): ClipTokenizerSpec {
  const vocabRel = `${folder}/vocab.json`;
  const vocab = asObject(readJson(dir, vocabRel, 'CLIP BPE vocabulary'), vocabRel);
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new EngineError(
        'model_invalid',
        `${vocabRel}: the id of ${JSON.stringify(token)} is not an integer`,
        {
          file: vocabRel,
        },
      );
    }
  }
  const mergesRel = `${folder}/merges.txt`;
  const merges = parseMerges(readFileSync(requireFile(dir, mergesRel, 'BPE merge rules'), 'utf8'));
  const bad = merges.findIndex((m) => m.split(' ').length !== 2);
  if (bad >= 0) {
    throw new EngineError(
      'model_invalid',
      `${mergesRel}: rule ${bad + 1} is not two symbols separated by a space`,
      {
        file: mergesRel,
      },
    );
  }
  const cfgRel = `${folder}/tokenizer_config.json`;
  const mapRel = `${folder}/special_tokens_map.json`;
  const cfg = asObject(readJson(dir, cfgRel, 'tokenizer settings'), cfgRel);
  const map = asObject(readOptionalJson(dir, mapRel, 'special tokens') ?? {}, mapRel);
  const pick = (key: string): string | undefined => tokenFromConfig(map[key]) ?? tokenFromConfig(cfg[key]);
  const maxLen = cfg['model_max_length'];
  const spec: ClipTokenizerSpec = {
    vocab: vocab as Record<string, number>,
    merges,
    maxLength: typeof maxLen === 'number' && maxLen >= 2 && maxLen <= 1024 ? maxLen : 77,
  };
  const bos = pick('bos_token');
  const eos = pick('eos_token');
  const pad = pick('pad_token');
  const unk = pick('unk_token');
  if (bos !== undefined) spec.bosToken = bos;
  if (eos !== undefined) spec.eosToken = eos;
  if (pad !== undefined) spec.padToken = pad;
  if (unk !== undefined) spec.unkToken = unk;
  for (const [role, token] of [
    ['bos_token', spec.bosToken ?? '<|startoftext|>'],
    ['eos_token', spec.eosToken ?? '<|endoftext|>'],
    ['pad_token', spec.padToken ?? '<|endoftext|>'],
  ] as const) {
    if (!(token in vocab)) {
      throw new EngineError(
        'model_invalid',
        `${mapRel}: ${role} ${JSON.stringify(token)} is not in ${vocabRel}`,
        {
          file: mapRel,
        },
      );
    }
  }
  return spec;
}

function positiveNumber(obj: Record<string, unknown>, key: string): number | undefined {
  const v = obj[key];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * Reads a model directory in the diffusers/Optimum ONNX layout. Checks that every required file exists
 * and every JSON file parses; ONNX tensor contracts are checked when the sessions open.
 */
export function readModelManifest(modelDir: string): ModelManifest {
  const dir = resolve(modelDir);
  const index = asObject(readJson(dir, 'model_index.json', 'pipeline description'), 'model_index.json');
  const pipelineClass = typeof index['_class_name'] === 'string' ? index['_class_name'] : 'unknown';
  const tokenizer = readTokenizer(dir, 'tokenizer');
  const twoEncoders = fileExists(dir, 'text_encoder_2/model.onnx');
  const tokenizer2 = twoEncoders ? readTokenizer(dir, 'tokenizer_2') : null;
  const forceZeros = index['force_zeros_for_empty_prompt'];
  const scheduler = parseSchedulerConfig(
    readJson(dir, 'scheduler/scheduler_config.json', 'scheduler configuration'),
  );
  const textEncoder = 'text_encoder/model.onnx';
  const unet = 'unet/model.onnx';
  const vaeDecoder = 'vae_decoder/model.onnx';
  requireFile(dir, textEncoder, 'text encoder');
  requireFile(dir, unet, 'denoising UNet');
  requireFile(dir, vaeDecoder, 'VAE decoder');

  const vaeCfg = asObject(
    readOptionalJson(dir, 'vae_decoder/config.json', 'VAE config') ?? {},
    'vae_decoder/config.json',
  );
  const unetCfg = asObject(
    readOptionalJson(dir, 'unet/config.json', 'UNet config') ?? {},
    'unet/config.json',
  );
  const scalingFactor = positiveNumber(vaeCfg, 'scaling_factor') ?? 0.18215;
  const vaeBlocks = Array.isArray(vaeCfg['block_out_channels']) ? vaeCfg['block_out_channels'].length : 4;
  const vaeScaleFactor = 2 ** Math.max(0, vaeBlocks - 1);
  const unetBlocks = Array.isArray(unetCfg['block_out_channels']) ? unetCfg['block_out_channels'].length : 4;
  const unetDown = 2 ** Math.max(0, unetBlocks - 1);
  const sampleSize = positiveNumber(unetCfg, 'sample_size') ?? 64;
  const nativeSide = sampleSize * vaeScaleFactor;

  const extras = asObject(readOptionalJson(dir, 'imagegen.json', 'engine defaults') ?? {}, 'imagegen.json');
  const isLcm = scheduler.className === 'LCMScheduler';
  const isTurbo = !isLcm && scheduler.timestepSpacing === 'trailing';
  const defaults = {
    steps: positiveNumber(extras, 'default_steps') ?? (isLcm ? 4 : isTurbo ? 2 : 25),
    guidance:
      typeof extras['default_guidance'] === 'number'
        ? extras['default_guidance']
        : isLcm
          ? 8.5
          : isTurbo
            ? 0
            : 7.5,
  };

  let upscaler: ModelManifest['upscaler'] = null;
  const upscalerFile = fileExists(dir, 'upscaler/model.onnx') ? 'upscaler/model.onnx' : null;
  if (upscalerFile) {
    const cfg = asObject(
      readOptionalJson(dir, 'upscaler/config.json', 'upscaler config') ?? {},
      'upscaler/config.json',
    );
    upscaler = {
      scale: positiveNumber(cfg, 'scale') ?? null,
      tile: positiveNumber(cfg, 'tile') ?? 192,
      tilePad: positiveNumber(cfg, 'tile_pad') ?? 10,
    };
  }
  const safetyChecker = fileExists(dir, 'safety_checker/model.onnx') ? 'safety_checker/model.onnx' : null;
  return {
    dir,
    pipelineClass,
    tokenizer,
    tokenizer2,
    forceZerosForEmptyPrompt: twoEncoders && forceZeros !== false,
    scheduler,
    files: {
      textEncoder,
      textEncoder2: twoEncoders ? 'text_encoder_2/model.onnx' : null,
      unet,
      vaeDecoder,
      upscaler: upscalerFile,
      safetyChecker,
    },
    scalingFactor,
    vaeScaleFactor,
    pixelMultiple: vaeScaleFactor * unetDown,
    nativePixels: nativeSide * nativeSide,
    defaults,
    upscaler,
  };
}

export function modelPath(manifest: ModelManifest, rel: string): string {
  return join(manifest.dir, rel);
}
