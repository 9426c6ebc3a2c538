import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { bucketOperation } from './bucket-handlers.js';
import { readBody, S3Error, sendXml } from './http.js';
import { listBucketsXml } from './listing.js';
import { objectOperation } from './object-handlers.js';
import { sha256Hex, verifyRequest } from './sigv4.js';
import { FileStore } from './store.js';
import { el } from './xml.js';

/** The largest body of a bucket operation (lifecycle configuration, batch delete). */
const SMALL_BODY_BYTES = 1024 * 1024;

/**
 * Serves one request: verifies the SigV4 signature from the headers, then routes to the service, bucket or
 * object operation, which reads the body only once it is authenticated (objects stream to disk, their
 * payload hash checked as they arrive), and turns any failure into an S3 error reply.
 */
export async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  store: FileStore,
  secrets: ReadonlyMap<string, string>,
  region: string,
  maxBytes: number,
): Promise<void> {
  const requestId = randomUUID();
  res.setHeader('x-amz-request-id', requestId);
  // A page on another origin may read what it holds a presigned URL for (the playground's "Download"
  // fetches one): the URL's signature is the whole authority, no cookie is involved, so any origin may read
  // (CORS simple requests: GET and HEAD need no preflight). Writes get no CORS headers.
  if (req.headers.origin !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
    res.setHeader('Access-Control-Allow-Origin', '*');
  }
  let resource = '/';
  try {
    const url = new URL(req.url ?? '/', 'http://s3.local');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      throw new S3Error(400, 'InvalidURI', 'the request path has malformed %-encoding');
    }
    resource = path;
    const query = [...url.searchParams.entries()];
    const q = new Map(query);
    const method = req.method ?? 'GET';
    // The signature covers the headers, x-amz-content-sha256 included: it is checked before a byte of the
    // body is read, so an unsigned or wrongly signed upload costs no memory and no disk.
    const auth = verifyRequest({ method, path, query, headers: req.headers }, secrets, Date.now());
    if (!auth.ok) throw new S3Error(403, auth.code, auth.message);
    const hash = req.headers['x-amz-content-sha256'];
    if (typeof hash === 'string' && hash.startsWith('STREAMING-')) {
      throw new S3Error(501, 'NotImplemented', 'streaming (chunked) SigV4 payloads are not supported');
    }
    const sha256 = typeof hash === 'string' && /^[0-9a-f]{64}$/.test(hash) ? hash : null;
    /** A small request body (bucket configuration, batch delete), read only when an operation needs one. */
    const smallBody = async () => {
      if (method !== 'PUT' && method !== 'POST') return Buffer.alloc(0);
      const body = await readBody(req, SMALL_BODY_BYTES);
      if (sha256 !== null && sha256Hex(body) !== sha256) {
        throw new S3Error(400, 'XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256');
      }
      return body;
    };

    const [, bucket = '', ...rest] = path.split('/');
    const key = rest.join('/');
    if (!bucket) {
      if (method !== 'GET') throw new S3Error(405, 'MethodNotAllowed', 'unsupported service operation');
      sendXml(res, 200, await listBucketsXml(store));
      return;
    }
    if (!FileStore.validBucketName(bucket))
      throw new S3Error(400, 'InvalidBucketName', 'invalid bucket name');
    const exists = await store.bucketExists(bucket);
    if (!key) {
      await bucketOperation(method, bucket, exists, q, await smallBody(), res, store, region);
      return;
    }
    if (!exists) throw new S3Error(404, 'NoSuchBucket', 'the bucket does not exist');
    if (Buffer.byteLength(key) > 1024)
      throw new S3Error(400, 'KeyTooLongError', 'keys are limited to 1024 bytes');
    await objectOperation(method, bucket, key, q, req, res, store, { maxBytes, sha256 });
  } catch (e) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A body left unread is not drained: the connection closes after the answer.
    if (!req.complete) res.setHeader('Connection', 'close');
    const err = e instanceof S3Error ? e : new S3Error(500, 'InternalError', 'internal error');
    if (req.method === 'HEAD') {
      res.writeHead(err.status, { 'x-amz-error-code': err.code });
      res.end();
      return;
    }
    sendXml(
      res,
      err.status,
      `<Error>${el('Code', err.code)}${el('Message', err.message)}${el('Resource', resource)}${el('RequestId', requestId)}</Error>`,
    );
  }
}
