/**
 * TensorFlow's `tf.image.resizeBilinear(image, [outH, outW], alignCorners = true)` of interleaved RGB, in
 * float64 rounded to float32 (tfjs's CPU kernel), values kept in 0–255 and unrounded.
 */
export function resizeBilinearAlignCorners(
  rgb: Uint8Array,
  from: { width: number; height: number },
  to: { width: number; height: number },
): Float32Array {
  const out = new Float32Array(to.width * to.height * 3);
  const sy = to.height > 1 ? (from.height - 1) / (to.height - 1) : 0;
  const sx = to.width > 1 ? (from.width - 1) / (to.width - 1) : 0;
  for (let y = 0; y < to.height; y++) {
    const fy = y * sy;
    const y0 = Math.floor(fy);
    const y1 = Math.min(from.height - 1, Math.ceil(fy));
    const dy = fy - y0;
    for (let x = 0; x < to.width; x++) {
      const fx = x * sx;
      const x0 = Math.floor(fx);
      const x1 = Math.min(from.width - 1, Math.ceil(fx));
      const dx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const tl = rgb[(y0 * from.width + x0) * 3 + c]!;
        const tr = rgb[(y0 * from.width + x1) * 3 + c]!;
        const bl = rgb[(y1 * from.width + x0) * 3 + c]!;
        const br = rgb[(y1 * from.width + x1) * 3 + c]!;
        const top = tl + (tr - tl) * dx;
        const bottom = bl + (br - bl) * dx;
        out[(y * to.width + x) * 3 + c] = top + (bottom - top) * dy;
      }
    }
  }
  return out;
}
