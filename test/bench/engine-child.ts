/**
 * One aspect ratio of `npm run bench:engine`, in its own process so peak RSS is per aspect ratio.
 * argv: MODEL_DIR ASPECT_RATIO ITERATIONS FORMAT [SAFETY_DIR]. Prints one JSON line.
 */
import { Engine, isAspectRatio, type StageTimings } from '@imagegen/engine';

const [modelDir, ar, iterations, format, safetyDir] = process.argv.slice(2);
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
await engine.close();
const median = (k: keyof StageTimings) => {
  const v = runs.map((r) => r[k]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
};
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
    baseRssMiB: rssBefore / 2 ** 20,
  }) + '\n',
);
