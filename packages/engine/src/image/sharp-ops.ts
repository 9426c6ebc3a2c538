import { crc32 } from 'node:zlib';

import sharp from 'sharp';

import type { Size } from '../plan.js';

/** Output file formats of the public API. */
export type ImageFormat = 'jpeg' | 'png';

export const MIME_TYPES: Record<ImageFormat, string> = { jpeg: 'image/jpeg', png: 'image/png' };

// libvips' own worker pool; the engine's parallelism lives in onnxruntime.
sharp.concurrency(Math.max(1, Math.min(4, sharp.concurrency())));

const raw = (rgb: Uint8Array, size: Size) =>
  sharp(rgb, { raw: { width: size.width, height: size.height, channels: 3 } });

/** Exact resize of interleaved RGB8 with the lanczos3 kernel; `fill` may stretch by the plan's few percent. */
export async function resizeRgb(
  rgb: Uint8Array,
  from: Size,
  to: Size,
  fit: 'fill' | 'cover' = 'fill',
): Promise<Uint8Array> {
  if (from.width === to.width && from.height === to.height) return rgb;
  const { data } = await raw(rgb, from)
    .resize(to.width, to.height, { fit, kernel: fit === 'cover' ? 'cubic' : 'lanczos3', position: 'centre' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** One iTXt chunk (PNG spec §11.3.4.5): UTF-8 text, uncompressed. */
function itxtChunk(keyword: string, text: string): Buffer {
  const body = Buffer.concat([
    Buffer.from(keyword, 'latin1'),
    Buffer.from([0, 0, 0, 0, 0]), // keyword end, compression flag, method, empty language tag, empty translated keyword
    Buffer.from(text, 'utf8'),
  ]);
  const type = Buffer.from('iTXt', 'ascii');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, body])) >>> 0);
  return Buffer.concat([len, type, body, crc]);
}

/** Inserts text chunks right after IHDR (8-byte signature + 25-byte IHDR chunk). */
export function withPngText(png: Buffer, entries: Record<string, string>): Buffer {
  const headerEnd = 8 + 25;
  const chunks = Object.entries(entries).map(([k, v]) => itxtChunk(k, v));
  return Buffer.concat([png.subarray(0, headerEnd), ...chunks, png.subarray(headerEnd)]);
}

/** Reads back the iTXt/tEXt chunks of a PNG (for tests and the CLI). */
export function readPngText(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (let p = 8; p + 8 <= png.length;) {
    const len = png.readUInt32BE(p);
    const type = png.toString('ascii', p + 4, p + 8);
    const body = png.subarray(p + 8, p + 8 + len);
    if (type === 'iTXt' || type === 'tEXt') {
      const nul = body.indexOf(0);
      const key = body.toString('latin1', 0, nul);
      if (type === 'tEXt') out[key] = body.toString('latin1', nul + 1);
      else {
        // Skip flag, method, then the two NUL-terminated language/translated-keyword fields.
        let q = nul + 3;
        q = body.indexOf(0, q) + 1;
        q = body.indexOf(0, q) + 1;
        out[key] = body.toString('utf8', q);
      }
    }
    if (type === 'IEND') break;
    p += 12 + len;
  }
  return out;
}

/**
 * Encodes RGB8 as JPEG (mozjpeg, quality 90, 4:2:0) or PNG (zlib level 6, adaptive filtering) with
 * the generation parameters in iTXt chunks. Both encoders are deterministic for the same pixels.
 */
export async function encodeImage(
  rgb: Uint8Array,
  size: Size,
  format: ImageFormat,
  pngText: Record<string, string>,
): Promise<Buffer> {
  if (format === 'jpeg') {
    return raw(rgb, size).jpeg({ quality: 90, mozjpeg: true }).toBuffer();
  }
  const png = await raw(rgb, size).png({ compressionLevel: 6, adaptiveFiltering: true }).toBuffer();
  return withPngText(png, pngText);
}

/**
 * A live preview as JPEG (quality 75, plain libjpeg: previews favour speed), shrunk to fit `maxSide` on
 * its long side when larger (never enlarged).
 */
export async function encodePreview(
  rgb: Uint8Array,
  size: Size,
  maxSide: number,
): Promise<{ jpeg: Buffer; width: number; height: number }> {
  let img = raw(rgb, size);
  if (Math.max(size.width, size.height) > maxSide) {
    img = img.resize(maxSide, maxSide, { fit: 'inside', kernel: 'cubic' });
  }
  const { data, info } = await img.jpeg({ quality: 75 }).toBuffer({ resolveWithObject: true });
  return { jpeg: data, width: info.width, height: info.height };
}

/** Decodes any image to RGB8 (tests, evaluation, the safety stage of a stored image). */
export async function decodeToRgb(file: Buffer): Promise<{ rgb: Uint8Array; size: Size; format: string }> {
  const img = sharp(file);
  const meta = await img.metadata();
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    size: { width: info.width, height: info.height },
    format: meta.format,
  };
}
