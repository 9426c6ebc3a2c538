/**
 * One aspect ratio of `npm run bench:engine`, in its own process so peak RSS is per aspect ratio.
 * argv: MODEL_DIR ASPECT_RATIO ITERATIONS FORMAT [SAFETY_DIR [PREVIEW_EVERY [PREVIEW_ROUNDS]]]. Prints one JSON
 * line.
 *
 * With PREVIEW_EVERY > 0 it then times live previews against a baseline in this process: PREVIEW_ROUNDS
 * (default ITERATIONS) rounds of three generations of the same input, in an order that rotates each round —
 * no previews, a preview every PREVIEW_EVERY steps with no interval bound (the worst case), and the
 * service's bound (at most two a second) — and reports medians of wall and process CPU time and of each
 * round's cost over its own baseline.
 */
import { Engine, isAspectRatio, type GenerateInput, type Preview, type StageTimings } from '@imagegen/engine';

const [modelDir, ar, iterations, format, safetyDir, previewEvery, previewRounds] = process.argv.slice(2);
if (!modelDir || !ar || !isAspectRatio(ar) || (format !== 'jpeg' && format !== 'png')) {
  throw new Error('usage: engine-child MODEL_DIR ASPECT_RATIO ITERATIONS jpeg|png [SAFETY_DIR]');
}
const rssBefore = process.memoryUsage().rss;
const engine = await Engine.load({ modelDir, ...(safetyDir ? { safetyModelDir: safetyDir } : {}) });
const input = { prompt: 'A red circle', aspectRatio: ar, seed: 42, format } as const;
await engine.generate(input); // warm-up: kernels, arenas, sharp
const runs: StageTimings[] = [];
let bytes = 0;
let steps = 0;
let native = '';
for (let i = 0; i < Number(iterations); i++) {
  const r = await engine.generate({ ...input, seed: 42 + i });
  runs.push(r.timings);
  bytes = r.image.length;
  steps = r.steps;
  native = `${r.native.width}x${r.native.height}`;
}
const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One generation as the worker sees it (previews handed out before it resolves): wall and process CPU time. */
async function timed(i: GenerateInput, minIntervalMs: number | null) {
  const got: Preview[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await engine.generate(
    i,
    minIntervalMs === null
      ? {}
      : {
          previews: {
            everySteps: Number(previewEvery),
            minIntervalMs,
            onPreview: (p) => got.push(p),
          },
        },
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, previews: got };
}
let previews: Record<string, unknown> | null = null;
if (Number(previewEvery) > 0) {
  type Mode = 'base' | 'every' | 'capped';
  const modes: Mode[] = ['base', 'every', 'capped'];
  const wall: Record<Mode, number[]> = { base: [], every: [], capped: [] };
  const cpu: Record<Mode, number[]> = { base: [], every: [], capped: [] };
  const counts = { every: 0, capped: 0 };
  let sample: Preview | undefined;
  // What the previews themselves took (engine thread + JPEG encode), summed per generation.
  const spent: number[] = [];
  const each: number[] = [];
  const rounds = Number(previewRounds ?? iterations);
  for (let i = 0; i < rounds; i++) {
    const one = { ...input, seed: 42 + i };
    // Each round runs the three in a rotated order, so none always follows the same one.
    for (let k = 0; k < modes.length; k++) {
      const mode = modes[(i + k) % modes.length]!;
      const r = await timed(one, mode === 'base' ? null : mode === 'every' ? 0 : 500);
      wall[mode].push(r.ms);
      cpu[mode].push(r.cpuMs);
      if (mode === 'every') {
        counts.every = r.previews.length;
        spent.push(r.previews.reduce((a, p) => a + p.ms, 0));
        each.push(...r.previews.map((p) => p.ms));
        sample = r.previews[0] ?? sample;
      } else if (mode === 'capped') counts.capped = r.previews.length;
    }
  }
  // Costs are medians over the rounds of each round's own ratio to its baseline: a slow stretch of a loaded
  // machine then weighs on both sides of a ratio instead of on whichever mode it happened to hit.
  const cost = (xs: number[], base: number[]) => mid(xs.map((x, i) => x / base[i]! - 1));
  previews = {
    everySteps: Number(previewEvery),
    rounds,
    source: sample?.source ?? null,
    size: sample ? `${sample.width}x${sample.height}` : null,
    jpegBytes: sample?.jpeg.length ?? 0,
    base: mid(wall.base),
    every: mid(wall.every),
    capped: mid(wall.capped),
    baseCpu: mid(cpu.base),
    wallCost: { every: cost(wall.every, wall.base), capped: cost(wall.capped, wall.base) },
    cpuCost: { every: cost(cpu.every, cpu.base), capped: cost(cpu.capped, cpu.base) },
    ownShare: mid(spent.map((s, i) => s / wall.base[i]!)),
    counts,
    each: each.length > 0 ? mid(each) : 0,
  };
}
await engine.close();
const median = (k: keyof StageTimings) => mid(runs.map((r) => r[k]));
const keys = [
  'tokenize',
  'textEncode',
  'unet',
  'unetPerStep',
  'vae',
  'upscale',
  'safety',
  'encode',
  'total',
] as const;
process.stdout.write(
  JSON.stringify({
    ar,
    native,
    steps,
    bytes,
    median: Object.fromEntries(keys.map((k) => [k, median(k)])),
    peakRssMiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    previews,
    baseRssMiB: rssBefore / 2 ** 20,
  }) + '\n',
);
