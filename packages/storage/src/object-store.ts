import { randomFillSync } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';

import { StorageError } from '@imagegen/contracts';
import * as Minio from 'minio';

import { abortableTransport, s3ErrorCode, withDeadline } from './deadline.js';

/** Deadline of every S3 call but `ping` when `requestTimeoutMs` is not set: 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Deadline of `ping` when `pingTimeoutMs` is not set: 2 s, or `requestTimeoutMs` if that is shorter. */
export const DEFAULT_PING_TIMEOUT_MS = 2_000;

export interface StorageConfig {
  /** Internal endpoint the workers upload to, e.g. http://minio:9000. */
  endpoint: string;
  /** Endpoint the presigned URLs are signed for (what clients can reach); default: `endpoint`. */
  publicEndpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** How long an image and its URL live after the job completes. Default 3,600,000 (one hour). */
  objectTtlMs: number;
  /**
   * Deadline of each S3 call (put, delete, each call of ensureBucket, each list or delete page of sweep),
   * in ms, from the call to its complete answer. Default `DEFAULT_REQUEST_TIMEOUT_MS` (30 000).
   */
  requestTimeoutMs?: number | undefined;
  /** Deadline of `ping`, in ms. Default: the shorter of `DEFAULT_PING_TIMEOUT_MS` (2 000) and `requestTimeoutMs`. */
  pingTimeoutMs?: number | undefined;
  /** Objects per list page in `sweep` (S3 caps it at 1000, the default); sweep holds one page at a time. */
  sweepPageSize?: number | undefined;
}

/** A stored object, as the job record keeps it. */
export interface StoredObject {
  key: string;
  bytes: number;
  contentType: string;
}

function clientFor(url: string, c: StorageConfig): Minio.Client {
  const u = new URL(url);
  const useSSL = u.protocol === 'https:';
  return new Minio.Client({
    endPoint: u.hostname,
    port: u.port ? Number(u.port) : useSSL ? 443 : 80,
    useSSL,
    transport: abortableTransport(useSSL ? https : http),
    accessKey: c.accessKey,
    secretKey: c.secretKey,
    // An explicit region makes presigning offline: no GET ?location to the (possibly unreachable) host.
    region: c.region,
    pathStyle: true,
  });
}

/** The environment settings every process shares (see @imagegen/contracts SharedEnv). */
export interface StorageEnv {
  S3_ENDPOINT: string;
  S3_PUBLIC_ENDPOINT?: string | undefined;
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
  S3_BUCKET: string;
  S3_REGION: string;
  IMAGE_TTL_MS: number;
  /** Deadline of each S3 call in ms (`StorageConfig.requestTimeoutMs`); default 30 000. */
  S3_REQUEST_TIMEOUT_MS?: number | undefined;
}

export function storageFromEnv(c: StorageEnv): ObjectStore {
  return new ObjectStore({
    endpoint: c.S3_ENDPOINT,
    publicEndpoint: c.S3_PUBLIC_ENDPOINT ?? c.S3_ENDPOINT,
    accessKey: c.S3_ACCESS_KEY,
    secretKey: c.S3_SECRET_KEY,
    bucket: c.S3_BUCKET,
    region: c.S3_REGION,
    objectTtlMs: c.IMAGE_TTL_MS,
    requestTimeoutMs: c.S3_REQUEST_TIMEOUT_MS,
  });
}

/**
 * Random bytes drawn 4 KiB at a time from the system's CSPRNG (one native call per 256 keys instead of one
 * per key, a few µs of every submit); each byte is used once.
 */
const keyBytes = Buffer.allocUnsafe(4096);
let keyBytesUsed = keyBytes.length;

/** Unguessable object key: 128 random bits, nothing derived from the job or the key owner. */
export function newObjectKey(format: 'jpeg' | 'png'): string {
  if (keyBytesUsed + 16 > keyBytes.length) {
    randomFillSync(keyBytes);
    keyBytesUsed = 0;
  }
  const hex = keyBytes.toString('hex', keyBytesUsed, keyBytesUsed + 16);
  keyBytesUsed += 16;
  return `images/${hex}.${format === 'jpeg' ? 'jpg' : 'png'}`;
}

/**
 * The image store over any S3 endpoint. Uploads go through the internal endpoint; presigned URLs are signed
 * with a second client built on the public endpoint (SigV4 signs the Host header, so a URL cannot be
 * re-hosted after signing).
 *
 * Every network call has a deadline (`requestTimeoutMs`, `pingTimeoutMs`): an endpoint that accepts the
 * connection and never answers cannot hold a job. Failures reject with `StorageError` (code
 * `storage_unavailable`, retryable); a missed deadline has a `DeadlineExceededError` as its cause, any other
 * failure the original error.
 */
export class ObjectStore {
  private readonly internal: Minio.Client;
  private readonly publicSigner: Minio.Client;
  private readonly requestTimeoutMs: number;
  private readonly pingTimeoutMs: number;
  private readonly sweepPageSize: number;

  constructor(readonly config: StorageConfig) {
    this.internal = clientFor(config.endpoint, config);
    this.publicSigner = clientFor(config.publicEndpoint, config);
    this.requestTimeoutMs = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.pingTimeoutMs = config.pingTimeoutMs ?? Math.min(DEFAULT_PING_TIMEOUT_MS, this.requestTimeoutMs);
    this.sweepPageSize = Math.max(1, Math.min(1000, config.sweepPageSize ?? 1000));
  }

  /**
   * Creates the bucket if missing and installs the one-day expiry rule where the server supports it
   * (`lifecycle: false` when the server answers the rule with an S3 error). Rejects with `StorageError`.
   */
  async ensureBucket(): Promise<{ created: boolean; lifecycle: boolean }> {
    const { bucket, region } = this.config;
    let created = false;
    if (!(await this.call('bucketExists', () => this.internal.bucketExists(bucket)))) {
      try {
        await this.call('makeBucket', () => this.internal.makeBucket(bucket, region));
        created = true;
      } catch (e) {
        // Another process created it between the check and the call.
        if (s3ErrorCode(e) !== 'BucketAlreadyOwnedByYou') throw e;
      }
    }
    let lifecycle = false;
    try {
      // S3 counts lifecycle expiry in whole days (minimum 1): a safety net behind the one-hour sweeper.
      await this.call('setBucketLifecycle', () =>
        this.internal.setBucketLifecycle(bucket, {
          Rule: [
            {
              ID: 'imagegen-expire',
              Status: 'Enabled',
              Filter: { Prefix: 'images/' },
              Expiration: { Days: 1 },
            },
          ],
        }),
      );
      lifecycle = true;
    } catch (e) {
      // The server answered and does not support the rule; no answer at all is a failure.
      if (s3ErrorCode(e) === undefined) throw e;
    }
    return { created, lifecycle };
  }

  /**
   * Uploads one image. Rejects with `StorageError` (a missed `requestTimeoutMs` or an S3 failure), or with
   * `signal.reason` when `signal` aborts first; either way the upload's connection is closed.
   */
  async put(
    key: string,
    body: Buffer,
    contentType: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<StoredObject> {
    await this.call(
      'putObject',
      () =>
        this.internal.putObject(this.config.bucket, key, body, body.length, {
          'Content-Type': contentType,
          'Cache-Control': 'private, max-age=3600, immutable',
        }),
      options.signal,
    );
    return { key, bytes: body.length, contentType };
  }

  /**
   * Copies a stored image server-side to a new key (result reuse): the copy has its own Last-Modified, so
   * its one-hour life starts now. Rejects with `StorageError`, also when the source no longer exists.
   */
  async copy(fromKey: string, toKey: string): Promise<void> {
    const { bucket } = this.config;
    await this.call('copyObject', () => this.internal.copyObject(bucket, toKey, `/${bucket}/${fromKey}`));
  }

  /**
   * A GET URL valid exactly until `completedAt + objectTtl`: signed as of `completedAt` with the TTL as its
   * lifetime, so every read of the job yields the same URL. Null once that moment has passed. Offline: the
   * region is configured, so signing sends no request.
   */
  async presign(
    key: string,
    completedAt: number,
    now = Date.now(),
  ): Promise<{ url: string; expiresAt: number } | null> {
    const expiresAt = completedAt + this.config.objectTtlMs;
    if (now >= expiresAt) return null;
    const seconds = Math.max(1, Math.min(604800, Math.floor(this.config.objectTtlMs / 1000)));
    const url = await this.publicSigner.presignedGetObject(
      this.config.bucket,
      key,
      seconds,
      {},
      new Date(completedAt),
    );
    return { url, expiresAt };
  }

  /**
   * One stored object's bytes, read whole within `requestTimeoutMs` (the OpenAI adapter's `b64_json`).
   * Rejects with `StorageError`, also when the object is larger than `maxBytes`.
   */
  async read(key: string, maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
    return this.call('getObject', async () => {
      const stream = await this.internal.getObject(this.config.bucket, key);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          stream.destroy();
          throw new StorageError(`object ${key} is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks);
    });
  }

  /** Deletes the objects (missing ones count as deleted). Rejects with `StorageError`, also when the server refuses any key. */
  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const failed = await this.removeKeys(keys);
    if (failed > 0) {
      throw new StorageError(`the object store refused to delete ${failed} of ${keys.length} objects`);
    }
  }

  /**
   * Deletes images older than the TTL; returns how many were deleted. Run periodically by the dispatcher.
   * Lists one page at a time and deletes that page's expired images before asking for the next, so memory
   * stays bounded by `sweepPageSize` whatever the bucket holds. Each list and delete request has its own
   * `requestTimeoutMs` deadline; rejects with `StorageError`.
   */
  async sweep(now = Date.now()): Promise<number> {
    const { objectTtlMs } = this.config;
    let deleted = 0;
    for await (const page of this.pages()) {
      const expired = page.filter((o) => o.lastModified + objectTtlMs <= now).map((o) => o.key);
      // Listing continues after the page's last key, so deleting the page first skips nothing (S3 and s3-lite).
      if (expired.length > 0) deleted += expired.length - (await this.removeKeys(expired));
    }
    return deleted;
  }

  /** The stored images, one listing page at a time (memory stays bounded by the page size). */
  async *pages(): AsyncGenerator<{ key: string; lastModified: number }[]> {
    let token = '';
    do {
      const page = await this.call('listObjectsV2', () =>
        this.internal.listObjectsV2Query(this.config.bucket, 'images/', token, '', this.sweepPageSize, ''),
      );
      yield page.objects.flatMap((o) =>
        o.name === undefined ? [] : [{ key: o.name, lastModified: o.lastModified.getTime() }],
      );
      token = page.isTruncated ? page.nextContinuationToken : '';
    } while (token !== '');
  }

  /** Every stored image's key (operations and tests; `pages()` keeps memory bounded). */
  async list(): Promise<{ key: string }[]> {
    const all: { key: string }[] = [];
    for await (const page of this.pages()) for (const o of page) all.push({ key: o.key });
    return all;
  }

  /**
   * Readiness probe: true when the bucket exists and answers within `pingTimeoutMs`; false when it is
   * missing, the endpoint fails, or it does not answer in time. Never rejects.
   */
  async ping(): Promise<boolean> {
    try {
      return await this.call(
        'bucketExists',
        () => this.internal.bucketExists(this.config.bucket),
        undefined,
        this.pingTimeoutMs,
      );
    } catch {
      return false;
    }
  }

  /** Deletes up to any number of keys (minio batches 1000 per request); returns how many the server refused. */
  private async removeKeys(keys: string[]): Promise<number> {
    const refused = await this.call('removeObjects', () =>
      this.internal.removeObjects(this.config.bucket, keys),
    );
    return refused.length;
  }

  private call<T>(
    what: string,
    run: () => Promise<T>,
    signal?: AbortSignal,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<T> {
    return withDeadline(what, timeoutMs, run, signal);
  }
}
