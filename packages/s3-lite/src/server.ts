import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { sha256Hex, verifyRequest } from './sigv4.js';
import { FileStore, type ObjectMeta } from './store.js';
import { el, S3_NS, textsOf, XML_HEADER } from './xml.js';

export interface S3LiteOptions {
  /** Where buckets and objects are kept. */
  dir: string;
  /** Interface to bind; default 127.0.0.1 (the server is meant for one trusted machine). */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  region?: string;
  credentials: { accessKey: string; secretKey: string }[];
  /** Largest accepted object; default 64 MiB. */
  maxObjectBytes?: number;
  /** How often bucket lifecycle expiration rules are applied; default 60 s, 0 disables. */
  lifecycleSweepMs?: number;
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const httpDate = (ms: number) => new Date(ms).toUTCString();
const isoDate = (ms: number) => new Date(ms).toISOString();

/**
 * An S3-compatible HTTP server implementing the subset the `minio` client and presigned downloads use:
 * buckets (create, head, delete, list, location, lifecycle), objects (put, get with Range, head, delete,
 * batch delete, ListObjects v1/v2). Every request must carry a valid AWS SigV4 signature (header or
 * presigned query); presigned URLs expire as signed. Lifecycle `Expiration.Days` rules are enforced by a
 * periodic sweep.
 */
export class S3LiteServer {
  private sweepTimer: NodeJS.Timeout | undefined;
  private boundPort: number | undefined = undefined;

  private constructor(
    private readonly server: Server,
    private readonly store: FileStore,
    readonly region: string,
    readonly host: string,
  ) {}

  static async start(options: S3LiteOptions): Promise<S3LiteServer> {
    const store = new FileStore(options.dir);
    await store.buckets(); // creates the root directory
    const secrets = new Map(options.credentials.map((c) => [c.accessKey, c.secretKey]));
    const region = options.region ?? 'us-east-1';
    const maxBytes = options.maxObjectBytes ?? 64 * 2 ** 20;
    const server = createServer((req, res) => {
      void handle(req, res, store, secrets, region, maxBytes);
    });
    server.keepAliveTimeout = 5000;
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const s3 = new S3LiteServer(server, store, region, host);
    s3.boundPort = (server.address() as AddressInfo).port; // kept for restarts after close()
    const every = options.lifecycleSweepMs ?? 60_000;
    if (every > 0) {
      s3.sweepTimer = setInterval(() => void s3.applyLifecycle(Date.now()).catch(() => undefined), every);
      s3.sweepTimer.unref();
    }
    return s3;
  }

  /** The bound port (still known after close, so a restart can reuse it). */
  get port(): number {
    this.boundPort ??= (this.server.address() as AddressInfo).port;
    return this.boundPort;
  }

  get endpoint(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Deletes objects past their bucket's lifecycle `Expiration.Days`; returns how many. */
  async applyLifecycle(now: number): Promise<number> {
    let deleted = 0;
    for (const { name } of await this.store.buckets()) {
      const xml = await this.store.readConfig(name, 'lifecycle');
      if (!xml) continue;
      for (const rule of textsOf(xml, 'Rule')) {
        if (textsOf(rule, 'Status')[0] !== 'Enabled') continue;
        const days = Number(textsOf(rule, 'Days')[0]);
        if (!Number.isFinite(days) || days <= 0) continue;
        const prefix = textsOf(rule, 'Prefix')[0] ?? '';
        for (const obj of await this.store.list(name, prefix)) {
          if (obj.lastModified + days * 86_400_000 <= now) {
            await this.store.delete(name, obj.key);
            deleted++;
          }
        }
      }
    }
    return deleted;
  }

  /** Stops accepting connections and closes idle ones. Safe to call twice. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new S3Error(400, 'EntityTooLarge', `objects are limited to ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  const data = Buffer.from(XML_HEADER + body);
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': data.length });
  res.end(data);
}

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

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  store: FileStore,
  secrets: ReadonlyMap<string, string>,
  region: string,
  maxBytes: number,
): Promise<void> {
  const requestId = randomUUID();
  res.setHeader('x-amz-request-id', requestId);
  let resource = '/';
  try {
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const path = decodeURIComponent(url.pathname);
    resource = path;
    const query = [...url.searchParams.entries()];
    const q = new Map(query);
    const method = req.method ?? 'GET';
    const body = method === 'PUT' || method === 'POST' ? await readBody(req, maxBytes) : Buffer.alloc(0);
    const auth = verifyRequest({ method, path, query, headers: req.headers }, secrets, Date.now());
    if (!auth.ok) throw new S3Error(403, auth.code, auth.message);
    const hash = req.headers['x-amz-content-sha256'];
    if (typeof hash === 'string' && hash.startsWith('STREAMING-')) {
      throw new S3Error(501, 'NotImplemented', 'streaming (chunked) SigV4 payloads are not supported');
    }
    if (typeof hash === 'string' && /^[0-9a-f]{64}$/.test(hash) && sha256Hex(body) !== hash) {
      throw new S3Error(400, 'XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256');
    }

    const [, bucket = '', ...rest] = path.split('/');
    const key = rest.join('/');
    if (!bucket) {
      if (method !== 'GET') throw new S3Error(405, 'MethodNotAllowed', 'unsupported service operation');
      const buckets = await store.buckets();
      sendXml(
        res,
        200,
        `<ListAllMyBucketsResult xmlns="${S3_NS}"><Owner>${el('ID', 'imagegen')}</Owner><Buckets>${buckets
          .map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', isoDate(b.created))}</Bucket>`)
          .join('')}</Buckets></ListAllMyBucketsResult>`,
      );
      return;
    }
    if (!FileStore.validBucketName(bucket))
      throw new S3Error(400, 'InvalidBucketName', 'invalid bucket name');
    const exists = await store.bucketExists(bucket);
    if (!key) {
      await bucketOperation(method, bucket, exists, q, body, res, store, region);
      return;
    }
    if (!exists) throw new S3Error(404, 'NoSuchBucket', 'the bucket does not exist');
    if (Buffer.byteLength(key) > 1024)
      throw new S3Error(400, 'KeyTooLongError', 'keys are limited to 1024 bytes');
    switch (method) {
      case 'PUT': {
        if (req.headers['x-amz-copy-source'])
          throw new S3Error(501, 'NotImplemented', 'copy is not supported');
        if (q.has('partNumber') || q.has('uploadId')) {
          throw new S3Error(501, 'NotImplemented', 'multipart upload is not supported');
        }
        const userMeta: Record<string, string> = {};
        for (const [h, v] of Object.entries(req.headers)) {
          if (h.startsWith('x-amz-meta-') && typeof v === 'string') userMeta[h.slice(11)] = v;
        }
        const type = req.headers['content-type'] ?? 'binary/octet-stream';
        const meta = await store.put(bucket, key, body, type, userMeta);
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
        const obj = await store.get(bucket, key);
        res.end(obj ? obj.body.subarray(start, end + 1) : undefined);
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
  } catch (e) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
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

async function bucketOperation(
  method: string,
  bucket: string,
  exists: boolean,
  q: Map<string, string>,
  body: Buffer,
  res: ServerResponse,
  store: FileStore,
  region: string,
): Promise<void> {
  const needBucket = () => {
    if (!exists) throw new S3Error(404, 'NoSuchBucket', 'the bucket does not exist');
  };
  if (q.has('location') && method === 'GET') {
    needBucket();
    sendXml(
      res,
      200,
      `<LocationConstraint xmlns="${S3_NS}">${region === 'us-east-1' ? '' : region}</LocationConstraint>`,
    );
    return;
  }
  if (q.has('lifecycle')) {
    needBucket();
    if (method === 'PUT') {
      await store.writeConfig(bucket, 'lifecycle', body.toString('utf8'));
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
    } else if (method === 'DELETE') {
      await store.writeConfig(bucket, 'lifecycle', null);
      res.writeHead(204);
      res.end();
    } else {
      const xml = await store.readConfig(bucket, 'lifecycle');
      if (!xml)
        throw new S3Error(404, 'NoSuchLifecycleConfiguration', 'the bucket has no lifecycle configuration');
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end(xml);
    }
    return;
  }
  if (q.has('delete') && method === 'POST') {
    needBucket();
    const keys = textsOf(body.toString('utf8'), 'Key');
    for (const k of keys) await store.delete(bucket, k);
    sendXml(
      res,
      200,
      `<DeleteResult xmlns="${S3_NS}">${keys.map((k) => `<Deleted>${el('Key', k)}</Deleted>`).join('')}</DeleteResult>`,
    );
    return;
  }
  switch (method) {
    case 'PUT':
      if (!(await store.createBucket(bucket))) {
        throw new S3Error(409, 'BucketAlreadyOwnedByYou', 'the bucket already exists');
      }
      res.writeHead(200, { Location: `/${bucket}`, 'Content-Length': 0 });
      res.end();
      return;
    case 'HEAD':
      needBucket();
      res.writeHead(200);
      res.end();
      return;
    case 'DELETE':
      needBucket();
      if ((await store.deleteBucket(bucket)) === 'not_empty') {
        throw new S3Error(409, 'BucketNotEmpty', 'the bucket is not empty');
      }
      res.writeHead(204);
      res.end();
      return;
    case 'GET': {
      needBucket();
      const prefix = q.get('prefix') ?? '';
      const max = Math.max(0, Math.min(1000, Number(q.get('max-keys') ?? 1000) || 0));
      const v2 = q.get('list-type') === '2';
      const after = v2
        ? (q.get('continuation-token') ?? q.get('start-after') ?? '')
        : (q.get('marker') ?? '');
      const all = (await store.list(bucket, prefix)).filter((o) => o.key > after);
      const page = all.slice(0, max);
      const truncated = all.length > page.length;
      const contents = page
        .map(
          (o) =>
            `<Contents>${el('Key', o.key)}${el('LastModified', isoDate(o.lastModified))}${el('ETag', `"${o.etag}"`)}${el('Size', o.size)}${el('StorageClass', 'STANDARD')}</Contents>`,
        )
        .join('');
      const last = page[page.length - 1]?.key ?? '';
      const paging = v2
        ? `${el('KeyCount', page.length)}${truncated ? el('NextContinuationToken', last) : ''}`
        : `${el('Marker', after)}${truncated ? el('NextMarker', last) : ''}`;
      sendXml(
        res,
        200,
        `<ListBucketResult xmlns="${S3_NS}">${el('Name', bucket)}${el('Prefix', prefix)}${el('MaxKeys', max)}${el('IsTruncated', truncated)}${paging}${contents}</ListBucketResult>`,
      );
      return;
    }
    default:
      throw new S3Error(405, 'MethodNotAllowed', `${method} is not supported on buckets`);
  }
}
