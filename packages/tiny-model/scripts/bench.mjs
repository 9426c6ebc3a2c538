// Times "A red circle" at 1:1 (1024x1024 JPEG) through the engine with the model's defaults.
// Usage: node scripts/bench.mjs [runs=5]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Engine } from '@imagegen/engine';

const here = new URL('..', import.meta.url).pathname;
const runs = Number(process.argv[2] ?? 5);
const e = await Engine.load({ modelDir: process.env.TINY_MODEL_DIR ?? join(here, 'model') });
console.log(e.info.scheduler, e.info.defaults, 'upscale x' + e.info.upscaleFactor);
await e.warmup();
const totals = [];
let last;
for (let i = 0; i < runs; i++) {
  const r = await e.generate({ prompt: 'A red circle', aspectRatio: '1:1', seed: 42 + i, format: 'jpeg' });
  if (i === 0) writeFileSync('/tmp/tiny-red-circle.jpg', r.image);
  totals.push(r.timings.total);
  last = r;
}
console.log(
  `${last.width}x${last.height} from ${last.native.width}x${last.native.height}`,
  JSON.stringify(last.timings),
);
console.log(`mean total ${(totals.reduce((a, b) => a + b, 0) / runs).toFixed(1)} ms over ${runs} runs`);
await e.close();
