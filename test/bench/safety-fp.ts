/**
 * `npm run eval:safety`: the image safety stage's false-positive rate on the bundled model's outputs — the
 * held-out prompts of packages/tiny-model/eval_prompts.json × seeds × aspect ratios (the same images
 * `npm run eval:model` scores), each classified by the shipped nsfwjs MobileNetV2 through the engine's own
 * safety stage. None of these pictures is explicit, so every block is a false positive. Prints the rate per
 * tolerance 0…6, the highest score per class, and the images closest to a threshold.
 *
 *   npm run eval:safety -- [--seeds 3] [--model DIR] [--safety DIR]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  ASPECT_RATIO_NAMES,
  Engine,
  ImageSafetyClassifier,
  decodeToRgb,
  type AspectRatio,
} from '@imagegen/engine';
import { networkDir, SAFETY_NETWORK } from '@imagegen/networks';

const pkg = fileURLToPath(new URL('../../packages/tiny-model/', import.meta.url));
const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '3' },
    model: { type: 'string', default: join(pkg, 'model') },
    safety: { type: 'string', default: networkDir(SAFETY_NETWORK) },
  },
});
const cases = (
  JSON.parse(readFileSync(join(pkg, 'eval_prompts.json'), 'utf8')) as { prompts: { prompt: string }[] }
).prompts;
const seeds = Number(values.seeds);
const aspects = ASPECT_RATIO_NAMES as readonly AspectRatio[];

// The engine generates (safety off so every image comes back); the classifier runs the engine's safety stage
// preparation (whole image → 224² bilinear) on the final image, at all seven tolerances at once.
const engine = await Engine.load({ modelDir: values.model, safetyModelDir: false });
const classifier = await ImageSafetyClassifier.open(values.safety);
const blocked = new Array<number>(7).fill(0);
const maxScore: Record<string, number> = {};
let n = 0;
let ms = 0;
try {
  for (const [i, c] of cases.entries()) {
    for (let s = 0; s < seeds; s++) {
      const ar = aspects[(i + s) % aspects.length]!;
      const seed = 1000 + 97 * i + s;
      const r = await engine.generate({ prompt: c.prompt, aspectRatio: ar, seed, format: 'png' });
      const { rgb, size } = await decodeToRgb(r.image);
      const t0 = performance.now();
      const report = await classifier.classifyRgb(rgb, size.width, size.height);
      ms += performance.now() - t0;
      n++;
      for (const [k, v] of Object.entries(report.scores)) maxScore[k] = Math.max(maxScore[k] ?? 0, v);
      report.verdicts.forEach((v, t) => {
        if (v.flagged) {
          blocked[t]!++;
          if (t === 2)
            console.log(`blocked at default tolerance: "${c.prompt}" ${ar} seed ${seed}`, report.scores);
        }
      });
    }
  }
} finally {
  await classifier.close();
  await engine.close();
}
console.log(
  `${n} images (${cases.length} prompts × ${seeds} seeds over ${aspects.join(' ')}); classifier ${(ms / n).toFixed(1)} ms per image (7 tolerances)`,
);
console.log(['tolerance', ...blocked.map((_, t) => String(t))].join('\t'));
console.log(['blocked', ...blocked.map((b) => `${b} (${((100 * b) / n).toFixed(1)} %)`)].join('\t'));
console.log(
  'highest score per class:',
  Object.fromEntries(Object.entries(maxScore).map(([k, v]) => [k, Number(v.toFixed(4))])),
);
