/**
 * Tile layout for super-resolution (Real-ESRGAN's `tile_process`): the image is cut into cores of at most
 * `tile` pixels; each core is read with `pad` pixels of context (clamped at the image border), upscaled,
 * and only the core's part of the output is kept, so seams never show and memory is bounded by the tile.
 * Fixed-size models (`fixed` set) always read a `fixed`×`fixed` window that contains the core.
 */
export interface Tile {
  /** Core region in input pixels. */
  x: number;
  y: number;
  w: number;
  h: number;
  /** Window read from the input (may extend past the image only for fixed-size models). */
  wx: number;
  wy: number;
  ww: number;
  wh: number;
}

export function planTiles(
  width: number,
  height: number,
  tile: number,
  pad: number,
  fixed: { w: number; h: number } | null,
): Tile[] {
  const coreW = fixed ? Math.max(1, fixed.w - 2 * pad) : tile;
  const coreH = fixed ? Math.max(1, fixed.h - 2 * pad) : tile;
  const tiles: Tile[] = [];
  for (let y = 0; y < height; y += coreH) {
    for (let x = 0; x < width; x += coreW) {
      const w = Math.min(coreW, width - x);
      const h = Math.min(coreH, height - y);
      let wx: number, wy: number, ww: number, wh: number;
      if (fixed) {
        ww = fixed.w;
        wh = fixed.h;
        wx = Math.max(0, Math.min(x - pad, width - ww));
        wy = Math.max(0, Math.min(y - pad, height - wh));
        if (width < ww) wx = 0;
        if (height < wh) wy = 0;
      } else {
        wx = Math.max(0, x - pad);
        wy = Math.max(0, y - pad);
        ww = Math.min(width, x + w + pad) - wx;
        wh = Math.min(height, y + h + pad) - wy;
      }
      tiles.push({ x, y, w, h, wx, wy, ww, wh });
    }
  }
  return tiles;
}
