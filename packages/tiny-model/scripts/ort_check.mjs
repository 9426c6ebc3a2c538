// Loads every ONNX file of a model directory with onnxruntime-node, runs each at the shapes the engine
// uses and prints mean timings. Usage: node scripts/ort_check.mjs [modelDir] [threads]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';

const dir = process.argv[2] ?? new URL('../model', import.meta.url).pathname;
const threads = Number(process.argv[3] ?? 2);
const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
const open = (p) => ort.InferenceSession.create(join(dir, p), opts);
const rnd = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
async function time(label, fn, n = 20) {
  await fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const ms = (performance.now() - t) / n;
  console.log(`${label}: ${ms.toFixed(2)} ms`);
  return ms;
}
const unetCfg = JSON.parse(readFileSync(join(dir, 'unet/config.json'), 'utf8'));
const D = unetCfg.cross_attention_dim;
const te = await open('text_encoder/model.onnx');
const unet = await open('unet/model.onnx');
const vae = await open('vae_decoder/model.onnx');
const up = await open('upscaler/model.onnx');
const ids = new BigInt64Array(2 * 77).fill(649n);
const teOut = await te.run({ input_ids: new ort.Tensor('int64', ids, [2, 77]) });
console.log('text_encoder last_hidden_state', teOut.last_hidden_state.dims);
await time('text_encoder batch 2', () => te.run({ input_ids: new ort.Tensor('int64', ids, [2, 77]) }));
const sizes = [
  [64, 64],
  [80, 48],
  [48, 80],
  [64, 48],
  [48, 64],
  [112, 48],
  [48, 112],
];
for (const [w, h] of sizes) {
  const lh = h / 8,
    lw = w / 8;
  const feeds = {
    sample: new ort.Tensor('float32', rnd(2 * 4 * lh * lw), [2, 4, lh, lw]),
    timestep: new ort.Tensor('float32', new Float32Array([999.5, 999.5]), [2]),
    encoder_hidden_states: new ort.Tensor('float32', rnd(2 * 77 * D), [2, 77, D]),
  };
  const o = await unet.run(feeds);
  if (o.out_sample.dims.join() !== [2, 4, lh, lw].join()) throw new Error('bad unet output');
  await time(`unet batch 2 ${w}x${h}`, () => unet.run(feeds));
  const lat = { latent_sample: new ort.Tensor('float32', rnd(4 * lh * lw), [1, 4, lh, lw]) };
  const d = await vae.run(lat);
  if (d.sample.dims.join() !== [1, 3, h, w].join()) throw new Error('bad vae output');
  await time(`vae_decoder ${w}x${h}`, () => vae.run(lat), 10);
  const img = {
    image: new ort.Tensor(
      'float32',
      rnd(3 * h * w).map((x) => x / 2 + 0.5),
      [1, 3, h, w],
    ),
  };
  const u = await up.run(img);
  if (u.upscaled_image.dims.join() !== [1, 3, 4 * h, 4 * w].join()) throw new Error('bad upscaler output');
  await time(`upscaler ${w}x${h} -> ${4 * w}x${4 * h}`, () => up.run(img), 10);
}
