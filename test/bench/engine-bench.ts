/**
 * `npm run bench:engine`: per-stage engine timings and peak memory for each aspect ratio (one child process
 * each), then the same UNet and VAE weights through onnxruntime and through PyTorch (Debian's python3-torch)
 * in this run, as a ratio, with a numerical parity check between the two.
 *
 *   npm run bench:engine -- [--model DIR --torch-nets NETS.py] [--iterations N] [--format jpeg|png]
 *                           [--safety DIR] [--upscaler esrgan-slim|esrgan-medium|esrgan-thick|DIR] [--upscaler-natives 512,1024]
 *                           [--preview-every 10] [--preview-rounds 15]
 *                           [--batch-sizes 1,2,4] [--batch-images 8] [--provider cpu|cuda] [--only batch|previews]
 *
 * Live previews: each aspect ratio's child also times generations with previews every --preview-every steps
 * (0: skip) against the same generation without, --preview-rounds rounds in a rotating order in the same
 * process, and a table prints what they cost: in wall time, in process CPU time, and their own time.
 * `--only previews` runs just the aspect ratios' children (stage timings and previews).
 *
 * First, micro-batching: images/s at each batch size (1, 2, 4; and 8 with --provider cuda) for the bundled
 * model and the fixture, the ratio to batch 1 in the same run, and peak RSS, one child process per row.
 * The safety stage uses the shipped classifier by default; a second table times the upscaler network (default
 * ESRGAN slim) per aspect ratio on the generation sizes of 512² and 1024² models, one child process each.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import * as ort from 'onnxruntime-node';

import { ASPECT_RATIO_NAMES } from '@imagegen/engine';
import { networkDir, SAFETY_NETWORK } from '@imagegen/networks';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bundled = join(root, 'packages/tiny-model/model');
const fixture = join(root, 'packages/engine/fixtures/tiny-random');
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    'torch-nets': { type: 'string' },
    iterations: { type: 'string', default: '5' },
    format: { type: 'string', default: 'jpeg' },
    safety: { type: 'string', default: networkDir(SAFETY_NETWORK) },
    upscaler: { type: 'string', default: 'esrgan-slim' },
    'upscaler-natives': { type: 'string', default: '512,1024' },
    repeat: { type: 'string', default: '20' },
    'preview-every': { type: 'string', default: '10' },
    'preview-rounds': { type: 'string', default: '15' },
    'batch-sizes': { type: 'string' },
    'batch-images': { type: 'string', default: '8' },
    provider: { type: 'string', default: 'cpu' },
    only: { type: 'string' },
  },
});
const useBundled = !values.model && existsSync(join(bundled, 'model_index.json'));
const modelDir = values.model ?? (useBundled ? bundled : fixture);
const nets =
  values['torch-nets'] ??
  (modelDir === fixture
    ? join(root, 'packages/engine/scripts/fixture_nets.py')
    : join(root, 'packages/tiny-model/nets.py'));
const f = (v: number, d = 1) => v.toFixed(d);

console.log(`model ${modelDir}`);
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'}`,
);
const load = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`;
console.log(load());

// Micro-batching: the same images at each batch size, one child process per row (peak RSS per row).
const batchSizes = (values['batch-sizes'] ?? (values.provider === 'cuda' ? '1,2,4,8' : '1,2,4'))
  .split(',')
  .map(Number);
const batchImages = Number(values['batch-images']);
const lcm = batchSizes.reduce((a, b) => (a * b) / gcd(a, b), 1);
function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
const perRow = Math.ceil(batchImages / lcm) * lcm;
if (values.only !== 'previews') {
  console.log(
    `micro-batching: ${perRow} square images per row after a warm-up batch, provider ${values.provider}; ` +
      'denoise = until the batch leaves the UNet loop, end to end = until its last image is encoded',
  );
  console.log(
    [
      'model',
      'steps',
      'batch',
      'denoise img/s',
      '× batch 1',
      'end-to-end img/s',
      '× batch 1',
      'peak RSS MiB',
    ].join('\t'),
  );
  for (const [name, dir] of [
    ['bundled', bundled],
    ['fixture', fixture],
  ] as const) {
    if (!existsSync(join(dir, 'model_index.json'))) continue;
    let base: { denoiseImagesPerS: number; imagesPerS: number } | null = null;
    for (const b of batchSizes) {
      const r = JSON.parse(
        execFileSync(
          process.execPath,
          [
            '--import',
            'tsx',
            join(root, 'test/bench/batch-child.ts'),
            dir,
            String(b),
            String(perRow),
            values.provider,
          ],
          { cwd: root, encoding: 'utf8' },
        ),
      ) as { steps: number; denoiseImagesPerS: number; imagesPerS: number; peakRssMiB: number };
      base ??= r;
      console.log(
        [
          name,
          r.steps,
          b,
          f(r.denoiseImagesPerS, 2),
          f(r.denoiseImagesPerS / base.denoiseImagesPerS, 2),
          f(r.imagesPerS, 2),
          f(r.imagesPerS / base.imagesPerS, 2),
          f(r.peakRssMiB, 0),
        ].join('\t'),
      );
    }
  }
  console.log('');
}
if (values.only === 'batch') process.exit(0);
console.log(
  `${values.iterations} timed runs per aspect ratio after one warm-up, medians in ms, output ${values.format}\n`,
);

interface Child {
  ar: string;
  native: string;
  steps: number;
  bytes: number;
  median: Record<string, number>;
  peakRssMiB: number;
  previews: PreviewFigures | null;
}
const rows: Child[] = [];
for (const ar of ASPECT_RATIO_NAMES) {
  const args = [
    '--import',
    'tsx',
    join(root, 'test/bench/engine-child.ts'),
    modelDir,
    ar,
    values.iterations,
    values.format,
  ];
  args.push(values.safety, values['preview-every'], values['preview-rounds']);
  rows.push(JSON.parse(execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' })) as Child);
}
const header = [
  'aspect',
  'native',
  'steps',
  'tokenize',
  'text enc',
  'unet/step',
  'unet',
  'vae',
  'upscale',
  'safety',
  'encode',
  'total',
  'peak RSS MiB',
];
console.log(header.join('\t'));
for (const r of rows) {
  const m = r.median;
  console.log(
    [
      r.ar,
      r.native,
      r.steps,
      f(m['tokenize']!, 2),
      f(m['textEncode']!),
      f(m['unetPerStep']!),
      f(m['unet']!),
      f(m['vae']!),
      f(m['upscale']!),
      f(m['safety']!),
      f(m['encode']!),
      f(m['total']!),
      f(r.peakRssMiB, 0),
    ].join('\t'),
  );
}

// Live previews against a baseline of the same generations in the same process.
interface PreviewFigures {
  everySteps: number;
  rounds: number;
  source: string | null;
  size: string | null;
  jpegBytes: number;
  /** Medians of whole generate() calls, ms. */
  base: number;
  every: number;
  capped: number;
  /** Median process CPU time of a generation without previews, ms. */
  baseCpu: number;
  /** Medians over the rounds of (with previews / without − 1), wall and process CPU time. */
  wallCost: { every: number; capped: number };
  cpuCost: { every: number; capped: number };
  /** Median over the rounds of the previews' own time (thread + encode) over the generation without. */
  ownShare: number;
  counts: { every: number; capped: number };
  /** Median of one preview's own time, ms. */
  each: number;
}
const previewRows = rows.filter((r) => r.previews);
if (previewRows.length > 0) {
  const first = previewRows[0]!.previews!;
  console.log(
    `\nlive previews (${load()}): every ${first.everySteps} steps (no interval bound) and as the service ` +
      `bounds them (also ≤ 2/s); ${first.rounds} rounds of the three, each round in a rotated order, medians ` +
      `of whole generate() calls in ms. wall cost / CPU cost: median over the rounds of what a generation ` +
      `with previews took more than the same round's generation without, in wall time and in the process's ` +
      `CPU time (all its threads); own ms: one preview's own time (engine thread + JPEG); own share: a ` +
      `generation's previews' own time over its time without`,
  );
  console.log(
    [
      'aspect',
      'source',
      'preview',
      'JPEG B',
      'no previews',
      `every ${first.everySteps}`,
      'n',
      'wall cost',
      'CPU cost',
      'own ms',
      'own share',
      'bounded 2/s',
      'n',
      'wall cost',
      'CPU cost',
    ].join('\t'),
  );
  const pct = (v: number) => `${v >= 0 ? '+' : ''}${f(v * 100)} %`;
  for (const r of previewRows) {
    const p = r.previews!;
    console.log(
      [
        r.ar,
        p.source ?? '—',
        p.size ?? '—',
        p.jpegBytes,
        f(p.base),
        f(p.every),
        p.counts.every,
        pct(p.wallCost.every),
        pct(p.cpuCost.every),
        f(p.each),
        pct(p.ownShare),
        f(p.capped),
        p.counts.capped,
        pct(p.wallCost.capped),
        pct(p.cpuCost.capped),
      ].join('\t'),
    );
  }
  const across = (g: (p: PreviewFigures) => number) => {
    const xs = previewRows.map((r) => g(r.previews!)).sort((a, b) => a - b);
    return `${pct(xs[0]!)} … ${pct(xs[xs.length - 1]!)} (median ${pct(xs[Math.floor(xs.length / 2)]!)})`;
  };
  console.log(
    `across aspect ratios, every ${first.everySteps}: wall cost ${across((p) => p.wallCost.every)}, ` +
      `own share ${across((p) => p.ownShare)}; bounded: wall cost ${across((p) => p.wallCost.capped)}`,
  );
  console.log(load());
}
if (values.only === 'previews') process.exit(0);

// The upscaler stage at real model sizes: the network at the factor the engine picks, then the exact resize.
const upscalerDir = existsSync(values.upscaler) ? values.upscaler : networkDir(values.upscaler);
console.log(`\nupscaler ${values.upscaler}: one timed run per row after a warm-up, ms`);
console.log(
  ['native', 'aspect', 'generated', 'target', 'factor', 'network', 'resize', 'peak RSS MiB'].join('\t'),
);
for (const n of values['upscaler-natives'].split(',')) {
  for (const ar of ASPECT_RATIO_NAMES) {
    const r = JSON.parse(
      execFileSync(
        process.execPath,
        ['--import', 'tsx', join(root, 'test/bench/upscale-child.ts'), upscalerDir, n, ar],
        { cwd: root, encoding: 'utf8' },
      ),
    ) as Record<string, number | string>;
    console.log(
      [
        `${n}²`,
        ar,
        r['native'],
        r['target'],
        r['scale'] ? `×${r['scale']}` : '—',
        f(r['networkMs'] as number, 0),
        f(r['resizeMs'] as number, 0),
        f(r['peakRssMiB'] as number, 0),
      ].join('\t'),
    );
  }
}

// Same weights, same inputs: onnxruntime vs PyTorch, both on 2 intra-op threads, median of --repeat calls.
const sizes = [...new Set(rows.map((r) => r.native))];
if (!existsSync(nets)) {
  console.log(`\n(no PyTorch comparison: ${nets} not found)`);
  process.exit(0);
}
const parity = mkdtempSync(join(tmpdir(), 'imagegen-parity-'));
let torchOut: string;
try {
  torchOut = execFileSync(
    '/usr/bin/python3',
    [
      join(root, 'packages/engine/scripts/torch_bench.py'),
      '--model',
      modelDir,
      '--nets',
      nets,
      '--sizes',
      sizes.join(','),
      '--repeat',
      values.repeat,
      '--threads',
      '2',
      '--parity-dir',
      parity,
    ],
    { encoding: 'utf8' },
  );
} catch (e) {
  console.log(`\n(no PyTorch comparison: ${(e as Error).message.split('\n').slice(-2).join(' ')})`);
  process.exit(0);
}
const torch = new Map(
  torchOut
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { size: string; unet_batch2_ms: number; vae_ms: number })
    .map((t) => [t.size, t]),
);
const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, graphOptimizationLevel: 'all' };
const unet = await ort.InferenceSession.create(join(modelDir, 'unet/model.onnx'), opts);
const vae = await ort.InferenceSession.create(join(modelDir, 'vae_decoder/model.onnx'), opts);
const read = (size: string, name: string) => {
  const b = readFileSync(join(parity, size, `${name}.f32`));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
async function timed(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < Number(values.repeat); i++) {
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
}
console.log(
  '\nUNet (batch 2, as under guidance) and VAE decode: onnxruntime-node vs PyTorch eager, same weights',
);
console.log(
  [
    'native',
    'unet ort',
    'unet torch',
    'torch/ort',
    'vae ort',
    'vae torch',
    'torch/ort',
    'max|Δ| unet',
    'max|Δ| vae',
  ].join('\t'),
);
for (const size of sizes) {
  const [w, h] = size.split('x').map(Number) as [number, number];
  const sample = read(size, 'sample');
  const hidden = read(size, 'hidden');
  const latent = read(size, 'latent');
  const feeds = {
    sample: new ort.Tensor('float32', sample, [2, 4, h / 8, w / 8]),
    timestep: new ort.Tensor('float32', new Float32Array([500, 500]), [2]),
    encoder_hidden_states: new ort.Tensor('float32', hidden, [2, 77, hidden.length / 154]),
  };
  const vfeeds = { latent_sample: new ort.Tensor('float32', latent, [1, 4, h / 8, w / 8]) };
  const uOut = (await unet.run(feeds))['out_sample']!.data as Float32Array;
  const vOut = (await vae.run(vfeeds))['sample']!.data as Float32Array;
  const uMs = await timed(() => unet.run(feeds));
  const vMs = await timed(() => vae.run(vfeeds));
  const t = torch.get(size)!;
  console.log(
    [
      size,
      f(uMs, 2),
      f(t.unet_batch2_ms, 2),
      `${f(t.unet_batch2_ms / uMs, 2)}×`,
      f(vMs, 2),
      f(t.vae_ms, 2),
      `${f(t.vae_ms / vMs, 2)}×`,
      maxDiff(uOut, read(size, 'unet_out')).toExponential(1),
      maxDiff(vOut, read(size, 'vae_out')).toExponential(1),
    ].join('\t'),
  );
}
await unet.release();
await vae.release();
rmSync(parity, { recursive: true, force: true });
