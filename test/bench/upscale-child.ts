/**
 * One (native size, aspect ratio) of `npm run bench:engine`'s upscaler table, in its own process so peak RSS
 * is its own: a natural-looking picture of the generation size a 512² (SD 1.x/2.x) or 1024² (SDXL) model
 * makes for the aspect ratio, through the upscaler network at the factor the engine picks (tiled), then
 * sharp's lanczos3 to the exact target. argv: NETWORK_DIR NATIVE ASPECT_RATIO. Prints one JSON line.
 */
import sharp from 'sharp';

import { ImageUpscaler, isAspectRatio, pickScale, planResolution } from '@imagegen/engine';

const [dir, nativeArg, ar] = process.argv.slice(2);
const native = Number(nativeArg);
if (!dir || !ar || !isAspectRatio(ar) || !(native > 0)) {
  throw new Error('usage: upscale-child NETWORK_DIR NATIVE ASPECT_RATIO');
}
const plan = planResolution({ nativePixels: native * native, pixelMultiple: 64 }, ar);
const { width, height } = plan.native;
const rgb = new Uint8Array(width * height * 3);
for (let y = 0; y < height; y++) {
  for (let x = 0; x < width; x++) {
    const v = Math.sin(x / 17) * Math.cos(y / 23) + 0.3 * Math.sin((x + 2 * y) / 5);
    rgb.set(
      [128 + 90 * v, 140 + 60 * Math.sin(y / 40), 120 - 70 * v].map((c) => Math.round(c)),
      (y * width + x) * 3,
    );
  }
}
const up = await ImageUpscaler.open(dir);
// null: the generation is already at the target (SDXL 1:1); only the resize (a no-op) remains.
const scale = pickScale(up.scales, plan.native, plan.target);
if (scale) await up.upscaleRgb(rgb.subarray(0, 64 * 64 * 3), 64, 64, scale); // warm-up: kernels and arenas
const t0 = performance.now();
const big = scale ? await up.upscaleRgb(rgb, width, height, scale) : { rgb, width, height };
const t1 = performance.now();
await sharp(big.rgb, { raw: { width: big.width, height: big.height, channels: 3 } })
  .resize(plan.target.width, plan.target.height, { fit: 'fill', kernel: 'lanczos3' })
  .raw()
  .toBuffer();
const t2 = performance.now();
await up.close();
process.stdout.write(
  JSON.stringify({
    ar,
    native: `${width}x${height}`,
    target: `${plan.target.width}x${plan.target.height}`,
    scale,
    networkMs: t1 - t0,
    resizeMs: t2 - t1,
    peakRssMiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
  }) + '\n',
);
