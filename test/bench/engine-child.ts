/**
 * One aspect ratio of `npm run bench:engine`, in its own process so peak RSS is per aspect ratio.
 * argv: MODEL_DIR ASPECT_RATIO ITERATIONS FORMAT [SAFETY_DIR [PREVIEW_EVERY]]. Prints one JSON line.
 *
 * With PREVIEW_EVERY > 0 it then times live previews against a baseline in this process: ITERATIONS rounds
 * of three generations of the same input in turn — no previews, a preview every PREVIEW_EVERY steps with no
 * interval bound (the worst case), and the service's bound (at most two a second) — and reports the medians.
 */
import { Engine, isAspectRatio, type GenerateInput, type Preview, type StageTimings } from '@imagegen/engine';

const [modelDir, ar, iterations, format, safetyDir, previewEvery] = process.argv.slice(2);
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

/** Wall time of one generation (as the worker sees it: previews handed out before it resolves). */
async function timed(i: GenerateInput, minIntervalMs: number | null) {
  const got: Preview[] = [];
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
  return { ms: performance.now() - t0, previews: got };
}
let previews: Record<string, unknown> | null = null;
if (Number(previewEvery) > 0) {
  const base: number[] = [];
  const every: number[] = [];
  const capped: number[] = [];
  let counts = { every: 0, capped: 0 };
  let sample: Preview | undefined;
  // What the previews themselves took (engine thread + JPEG encode), summed per generation.
  const spent: number[] = [];
  const each: number[] = [];
  for (let i = 0; i < Number(iterations); i++) {
    const one = { ...input, seed: 42 + i };
    base.push((await timed(one, null)).ms);
    const e = await timed(one, 0);
    every.push(e.ms);
    const c = await timed(one, 500);
    capped.push(c.ms);
    counts = { every: e.previews.length, capped: c.previews.length };
    spent.push(e.previews.reduce((a, p) => a + p.ms, 0));
    each.push(...e.previews.map((p) => p.ms));
    sample = e.previews[0] ?? sample;
  }
  previews = {
    everySteps: Number(previewEvery),
    source: sample?.source ?? null,
    size: sample ? `${sample.width}x${sample.height}` : null,
    jpegBytes: sample?.jpeg.length ?? 0,
    base: mid(base),
    every: mid(every),
    capped: mid(capped),
    counts,
    spent: mid(spent),
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
