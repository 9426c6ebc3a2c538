/**
 * `@imagegen/client` in Node: everything of the browser entry, and an `ImageGen` whose `download` can
 * also write the image to a file (streamed to `FILE.part`, then renamed, so a failed download leaves no
 * partial file behind).
 */
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

import { ImageGen as BaseImageGen, type ImageSource, type RequestOptions } from './client.js';

export * from './index.js';

/** Where `download(source, file)` wrote the image. */
export interface DownloadedFile {
  /** The absolute path. */
  path: string;
  bytes: number;
  /** The `Content-Type` the storage answered with (`image/jpeg`, `image/png`). */
  contentType: string | null;
}

export class ImageGen extends BaseImageGen {
  /** The image as a Blob. */
  override download(source: ImageSource, options?: RequestOptions): Promise<Blob>;
  /** The image written to `file`. */
  override download(source: ImageSource, file: string, options?: RequestOptions): Promise<DownloadedFile>;
  override async download(
    source: ImageSource,
    fileOrOptions?: string | RequestOptions,
    maybeOptions: RequestOptions = {},
  ): Promise<Blob | DownloadedFile> {
    if (typeof fileOrOptions !== 'string') return super.download(source, fileOrOptions);
    const path = resolve(fileOrOptions);
    const res = await this.fetchImage(source, maybeOptions);
    const part = `${path}.part`;
    const body = Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>);
    let bytes: number;
    try {
      await pipeline(body, createWriteStream(part), { signal: maybeOptions.signal });
      bytes = (await stat(part)).size;
      await rename(part, path);
    } catch (e) {
      await rm(part, { force: true });
      throw e;
    }
    return { path, bytes, contentType: res.headers.get('content-type') };
  }
}
