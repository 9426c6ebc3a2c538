/**
 * One batch size of `npm run bench:engine`'s micro-batching table, in its own process so peak RSS is per
 * batch size. argv: MODEL_DIR BATCH IMAGES [PROVIDER]. Generates IMAGES square images (1:1, JPEG, the model's
 * default steps and guidance, the worker's default safety check and upscaler) as IMAGES / BATCH batches through
 * `Engine.generateBatch`, after one warm-up batch; prints one JSON line.
 *
 * `denoiseMs`: from a batch's start until its last member has left the denoising loop (the UNet share that
 * batching changes); `totalMs`: until its last image is encoded (what a worker's throughput sees).
 */
import { Engine, type ExecutionProvider } from '@imagegen/engine';
import { networkDir, SAFETY_NETWORK } from '@imagegen/networks';

const [modelDir, batchArg, imagesArg, providerArg] = process.argv.slice(2);
const batch = Number(batchArg);
const images = Number(imagesArg);
if (!modelDir || !Number.isInteger(batch) || batch < 1 || !Number.isInteger(images) || images % batch) {
  throw new Error('usage: batch-child MODEL_DIR BATCH IMAGES [cpu|cuda] (IMAGES a multiple of BATCH)');
}
const provider = (providerArg ?? 'cpu') as ExecutionProvider;
const engine = await Engine.load({
  modelDir,
  runtime: { provider },
  safetyModelDir: networkDir(SAFETY_NETWORK),
  defaultUpscalerDir: networkDir('esrgan-slim'),
});

async function runBatch(first: number): Promise<{ denoiseMs: number; totalMs: number }> {
  const started = performance.now();
  let left = batch;
  let denoiseMs = 0;
  const results = engine.generateBatch(
    Array.from({ length: batch }, (_, k) => ({
      input: { prompt: `a red circle ${first + k}`, aspectRatio: '1:1', seed: first + k, format: 'jpeg' },
      hooks: {
        onStage: (stage) => {
          if (stage === 'upscaling' && --left === 0) denoiseMs = performance.now() - started;
        },
      },
    })),
  );
  await Promise.all(results);
  return { denoiseMs, totalMs: performance.now() - started };
}

await runBatch(1_000_000); // warm-up: kernels and arenas at this batch size
let denoiseMs = 0;
let totalMs = 0;
for (let i = 0; i < images; i += batch) {
  const t = await runBatch(i);
  denoiseMs += t.denoiseMs;
  totalMs += t.totalMs;
}
const { steps } = engine.info.defaults;
await engine.close();
process.stdout.write(
  JSON.stringify({
    batch,
    images,
    steps,
    denoiseImagesPerS: images / (denoiseMs / 1000),
    imagesPerS: images / (totalMs / 1000),
    peakRssMiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
  }) + '\n',
);
