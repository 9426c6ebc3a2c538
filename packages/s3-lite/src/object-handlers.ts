import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';

import { httpDate, S3Error, sendXml } from './http.js';
import { BodyRefused, FileStore, type ObjectMeta } from './store.js';
import { el, S3_NS } from './xml.js';

function objectHeaders(meta: ObjectMeta, overrides: Map<string, string>): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    'Content-Type': overrides.get('response-content-type') ?? meta.contentType,
    ETag: `"${meta.etag}"`,
    'Last-Modified': httpDate(meta.lastModified),
    'Accept-Ranges': 'bytes',
  };
  const disposition = overrides.get('response-content-disposition');
  if (disposition) headers['Content-Disposition'] = disposition;
  const cache = overrides.get('response-cache-control');
  if (cache) headers['Cache-Control'] = cache;
  for (const [k, v] of Object.entries(meta.userMeta)) headers[`x-amz-meta-${k}`] = v;
  return headers;
}

/** Requests on an object of an existing bucket: put, get (with Range), head, delete. */
export async function objectOperation(
  method: string,
  bucket: string,
  key: string,
  q: Map<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
  store: FileStore,
  limits: { maxBytes: number; sha256: string | null },
): Promise<void> {
  switch (method) {
    case 'PUT': {
      if (q.has('partNumber') || q.has('uploadId')) {
        throw new S3Error(501, 'NotImplemented', 'multipart upload is not supported');
      }
      const userMeta: Record<string, string> = {};
      for (const [h, v] of Object.entries(req.headers)) {
        if (h.startsWith('x-amz-meta-') && typeof v === 'string') userMeta[h.slice(11)] = v;
      }
      const type = req.headers['content-type'] ?? 'binary/octet-stream';
      const copySource = req.headers['x-amz-copy-source'];
      if (typeof copySource === 'string') {
        await copyObject(copySource, { bucket, key }, req, res, store, { contentType: type, userMeta });
        return;
      }
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limits.maxBytes) {
        throw new S3Error(400, 'EntityTooLarge', `objects are limited to ${limits.maxBytes} bytes`);
      }
      let meta: ObjectMeta;
      try {
        meta = await store.putStream(bucket, key, req, type, userMeta, limits);
      } catch (e) {
        if (!(e instanceof BodyRefused)) throw e;
        throw e.reason === 'too_large'
          ? new S3Error(400, 'EntityTooLarge', `objects are limited to ${limits.maxBytes} bytes`)
          : new S3Error(400, 'XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256');
      }
      res.writeHead(200, { ETag: `"${meta.etag}"`, 'Content-Length': 0 });
      res.end();
      return;
    }
    case 'GET':
    case 'HEAD': {
      const meta = await store.head(bucket, key);
      if (!meta) throw new S3Error(404, 'NoSuchKey', 'the object does not exist');
      const headers = objectHeaders(meta, q);
      const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers['range'] ?? '');
      let start = 0;
      let end = meta.size - 1;
      let status = 200;
      if (range && (range[1] || range[2])) {
        if (range[1]) {
          start = Number(range[1]);
          if (range[2]) end = Math.min(end, Number(range[2]));
        } else {
          start = Math.max(0, meta.size - Number(range[2]));
        }
        if (start > end || start >= meta.size) {
          res.setHeader('Content-Range', `bytes */${meta.size}`);
          throw new S3Error(416, 'InvalidRange', 'the requested range is not satisfiable');
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
      }
      headers['Content-Length'] = end - start + 1;
      res.writeHead(status, headers);
      if (method === 'HEAD') {
        res.end();
        return;
      }
      // Streamed from disk: a large object is never held in memory.
      await pipeline(createReadStream(store.bytesPath(bucket, key), { start, end }), res).catch(() => {
        res.destroy(); // the object went away meanwhile, or the client left
      });
      return;
    }
    case 'DELETE':
      await store.delete(bucket, key);
      res.writeHead(204);
      res.end();
      return;
    default:
      throw new S3Error(405, 'MethodNotAllowed', `${method} is not supported on objects`);
  }
}

/**
 * CopyObject: `x-amz-copy-source` is `[/]bucket/key` (URL-encoded, an optional `?versionId=` refused). The
 * metadata is the source's unless `x-amz-metadata-directive: REPLACE` gives the request's own.
 */
async function copyObject(
  header: string,
  to: { bucket: string; key: string },
  req: IncomingMessage,
  res: ServerResponse,
  store: FileStore,
  requested: { contentType: string; userMeta: Record<string, string> },
): Promise<void> {
  if (header.includes('?')) throw new S3Error(501, 'NotImplemented', 'copying a version is not supported');
  let path: string;
  try {
    path = decodeURIComponent(header).replace(/^\//, '');
  } catch {
    throw new S3Error(400, 'InvalidArgument', 'x-amz-copy-source is not a valid URL-encoded path');
  }
  const slash = path.indexOf('/');
  const from = { bucket: path.slice(0, slash), key: path.slice(slash + 1) };
  if (slash < 1 || from.key === '' || !FileStore.validBucketName(from.bucket)) {
    throw new S3Error(400, 'InvalidArgument', 'x-amz-copy-source must be bucket/key');
  }
  const directive = String(req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw new S3Error(400, 'InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE');
  }
  if (from.bucket === to.bucket && from.key === to.key && directive === 'COPY') {
    throw new S3Error(400, 'InvalidRequest', 'copying an object onto itself needs new metadata (REPLACE)');
  }
  if (!(await store.bucketExists(from.bucket)))
    throw new S3Error(404, 'NoSuchBucket', 'the bucket does not exist');
  const meta = await store.copy(from, to, directive === 'REPLACE' ? requested : null);
  if (!meta) throw new S3Error(404, 'NoSuchKey', 'the copy source does not exist');
  sendXml(
    res,
    200,
    `<CopyObjectResult xmlns="${S3_NS}">${el('LastModified', new Date(meta.lastModified).toISOString())}${el('ETag', `"${meta.etag}"`)}</CopyObjectResult>`,
  );
}
