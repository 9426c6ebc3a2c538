/**
 * `npm run model:fit-preview -- --model DIR [--seeds 2] [--steps N] [--write]`: fits the model family's
 * latent→RGB map for live previews (see packages/engine/src/preview/fit.ts) and prints it with its R² on
 * the fitting samples and on held-out generations; `--write` stores it as DIR/latent_rgb.json, which the
 * engine then uses instead of a VAE decode per preview.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { fitPreviewMap, LATENT_RGB_FILE, latentRgbFileText } from '@imagegen/engine';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    seeds: { type: 'string', default: '2' },
    steps: { type: 'string' },
    write: { type: 'boolean', default: false },
  },
});
if (!values.model) {
  console.error('usage: npm run model:fit-preview -- --model DIR [--seeds 2] [--steps N] [--write]');
  process.exit(2);
}
const started = performance.now();
const report = await fitPreviewMap(values.model, {
  seeds: Number(values.seeds),
  ...(values.steps ? { steps: Number(values.steps) } : {}),
  onProgress: (done, total) => process.stderr.write(`\rgenerations ${done}/${total}`),
});
process.stderr.write('\n');
const f = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' / ');
const fit = {
  samples: report.samples,
  positions: report.positions,
  latent_shape: report.shape,
  r2_rgb: report.r2.map((x) => Number(x.toFixed(4))),
  held_out_r2_rgb: report.heldOutR2.map((x) => Number(x.toFixed(4))),
};
const text = latentRgbFileText(report.map, fit);
console.log(text);
console.log(
  `R² (R / G / B): ${f(report.r2)} on ${report.samples} samples; held out: ${f(report.heldOutR2)}; ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
if (values.write) {
  const out = join(values.model, LATENT_RGB_FILE);
  writeFileSync(out, text);
  console.log(`wrote ${out}`);
}
