// Renders the eval prompts through the real engine (packages/engine/dist) and writes PNGs plus
// results.json into an output folder; score them with `python3 scripts/score.py <outDir>`.
// Usage: node scripts/engine_eval.mjs <outDir> [seeds=1] [aspects=1:1,16:9,...] [limit] [steps] [guidance]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Engine } from '@imagegen/engine';

const here = new URL('..', import.meta.url).pathname;
const out = process.argv[2] ?? '/tmp/tiny-eval';
const seeds = Number(process.argv[3] ?? 1);
const aspects = (process.argv[4] ?? '1:1,16:9,9:16,4:3,3:4,21:9,9:21').split(',');
const limit = Number(process.argv[5] ?? 1000);
const steps = process.argv[6] ? Number(process.argv[6]) : undefined;
const guidance = process.argv[7] ? Number(process.argv[7]) : undefined;
mkdirSync(out, { recursive: true });
const { prompts } = JSON.parse(readFileSync(join(here, 'eval_prompts.json'), 'utf8'));
const engine = await Engine.load({ modelDir: process.env.TINY_MODEL_DIR ?? join(here, 'model') });
console.log(engine.info);
const results = [];
let k = 0;
for (const [i, p] of prompts.slice(0, limit).entries()) {
  for (let s = 0; s < seeds; s++) {
    const aspectRatio = aspects[k++ % aspects.length];
    const seed = 1000 + 17 * i + s;
    const r = await engine.generate({ prompt: p.prompt, aspectRatio, seed, format: 'png', steps, guidance });
    const file = `p${String(i).padStart(2, '0')}_s${s}_${aspectRatio.replace(':', 'x')}.png`;
    writeFileSync(join(out, file), r.image);
    results.push({ file, ...p, aspectRatio, seed, timings: r.timings, native: r.native });
  }
}
writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 1));
await engine.close();
console.log(`${results.length} images in ${out}`);
