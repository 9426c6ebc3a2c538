import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { ASPECT_RATIO_NAMES, Engine, isAspectRatio, resolveModelDir } from '@imagegen/engine';

import { loadCliConfig } from '../config.js';

import { defaultModelDir } from '../model-dir.js';
import { ProgressBar } from '../progress.js';
import { UsageError } from '../usage.js';

function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer ${min}..${max}`);
  return n;
}

export async function render(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'aspect-ratio': { type: 'string', default: '16:9' },
      seed: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      steps: { type: 'string' },
      guidance: { type: 'string' },
      negative: { type: 'string' },
      provider: { type: 'string', default: 'cpu' },
      threads: { type: 'string' },
    },
  });
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('a prompt is required');
  const aspectRatio = values['aspect-ratio'];
  if (!isAspectRatio(aspectRatio)) {
    throw new UsageError(`--aspect-ratio must be one of ${ASPECT_RATIO_NAMES.join(', ')}`);
  }
  const seed = intOption(values.seed, 'seed', 0, 0xffffffff) ?? randomInt(0, 2 ** 32);
  const fromExt = values.out ? extname(values.out).slice(1).toLowerCase().replace('jpg', 'jpeg') : '';
  const format = values.format ?? (fromExt === 'png' || fromExt === 'jpeg' ? fromExt : 'jpeg');
  if (format !== 'jpeg' && format !== 'png') throw new UsageError('--format must be jpeg or png');
  const provider = values.provider;
  if (provider !== 'cpu' && provider !== 'cuda') throw new UsageError('--provider must be cpu or cuda');
  let guidance: number | undefined;
  if (values.guidance !== undefined) {
    guidance = Number(values.guidance);
    if (!Number.isFinite(guidance) || guidance < 0 || guidance > 50)
      throw new UsageError('--guidance must be 0..50');
  }
  const steps = intOption(values.steps, 'steps', 1, 1000);
  const threads = intOption(values.threads, 'threads', 1, 1024);
  const out = resolve(values.out ?? `imagegen-${seed}.${format === 'jpeg' ? 'jpg' : 'png'}`);
  // A directory, or the name of a pulled model; anything else goes to the engine, which names what is missing.
  const modelDir = values.model
    ? (resolveModelDir(values.model, loadCliConfig().IMAGEGEN_MODELS_DIR) ?? resolve(values.model))
    : defaultModelDir();

  const loadStart = performance.now();
  const engine = await Engine.load({
    modelDir,
    runtime: { provider, ...(threads ? { intraOpThreads: threads } : {}) },
  });
  const loadMs = performance.now() - loadStart;
  const bar = new ProgressBar(process.stderr);
  try {
    const result = await engine.generate(
      {
        prompt,
        aspectRatio,
        seed,
        format: format,
        ...(steps === undefined ? {} : { steps }),
        ...(guidance === undefined ? {} : { guidance }),
        ...(values.negative === undefined ? {} : { negativePrompt: values.negative }),
      },
      {
        onStep: (step, total) => bar.update(step, total, 'denoising'),
        onStage: (stage) => {
          if (stage !== 'generating') bar.update(1, 1, stage);
        },
      },
    );
    bar.done();
    writeFileSync(out, result.image);
    const t = result.timings;
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    process.stdout.write(
      [
        `wrote ${out} (${result.width}×${result.height} ${result.format}, ${result.image.length} bytes)`,
        `seed ${result.seed}, ${result.steps} steps, guidance ${result.guidance}, generated at ${result.native.width}×${result.native.height}`,
        `model load ${ms(loadMs)}; tokenize ${ms(t.tokenize)}, text encode ${ms(t.textEncode)}, unet ${ms(t.unet)} (${ms(t.unetPerStep)}/step), vae ${ms(t.vae)}, upscale ${ms(t.upscale)}, safety ${ms(t.safety)}, encode ${ms(t.encode)}, total ${ms(t.total)}`,
        ...(result.tokens.truncated > 0
          ? [`warning: ${result.tokens.truncated} prompt tokens beyond 77 were ignored`]
          : []),
      ].join('\n') + '\n',
    );
  } finally {
    bar.done();
    await engine.close();
  }
}
