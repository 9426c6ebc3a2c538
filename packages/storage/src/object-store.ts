import { randomBytes } from 'node:crypto';

import * as Minio from 'minio';

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
  });
}

/** Unguessable object key: 128 random bits, nothing derived from the job or the key owner. */
export function newObjectKey(format: 'jpeg' | 'png'): string {
  return `images/${randomBytes(16).toString('hex')}.${format === 'jpeg' ? 'jpg' : 'png'}`;
}

/**
 * The image store over any S3 endpoint. Uploads go through the internal endpoint; presigned URLs are signed
 * with a second client built on the public endpoint (SigV4 signs the Host header, so a URL cannot be
 * re-hosted after signing).
 */
export class ObjectStore {
  private readonly internal: Minio.Client;
  private readonly publicSigner: Minio.Client;

  constructor(readonly config: StorageConfig) {
    this.internal = clientFor(config.endpoint, config);
    this.publicSigner = clientFor(config.publicEndpoint, config);
  }

  /** Creates the bucket if missing and installs the one-day expiry rule where the server supports it. */
  async ensureBucket(): Promise<{ created: boolean; lifecycle: boolean }> {
    const { bucket, region } = this.config;
    let created = false;
    if (!(await this.internal.bucketExists(bucket))) {
      try {
        await this.internal.makeBucket(bucket, region);
        created = true;
      } catch (e) {
        // Another process created it between the check and the call.
        if ((e as { code?: string }).code !== 'BucketAlreadyOwnedByYou') throw e;
      }
    }
    let lifecycle = false;
    try {
      // S3 counts lifecycle expiry in whole days (minimum 1): a safety net behind the one-hour sweeper.
      await this.internal.setBucketLifecycle(bucket, {
        Rule: [
          {
            ID: 'imagegen-expire',
            Status: 'Enabled',
            Filter: { Prefix: 'images/' },
            Expiration: { Days: 1 },
          },
        ],
      });
      lifecycle = true;
    } catch {
      lifecycle = false;
    }
    return { created, lifecycle };
  }

  async put(key: string, body: Buffer, contentType: string): Promise<StoredObject> {
    await this.internal.putObject(this.config.bucket, key, body, body.length, {
      'Content-Type': contentType,
      'Cache-Control': 'private, max-age=3600, immutable',
    });
    return { key, bytes: body.length, contentType };
  }

  /**
   * A GET URL valid exactly until `completedAt + objectTtl`: signed as of `completedAt` with the TTL as its
   * lifetime, so every read of the job yields the same URL. Null once that moment has passed.
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

  async delete(keys: string[]): Promise<void> {
    if (keys.length > 0) await this.internal.removeObjects(this.config.bucket, keys);
  }

  /** Every stored image with its upload time. */
  async list(): Promise<{ key: string; lastModified: number }[]> {
    const out: { key: string; lastModified: number }[] = [];
    const stream = this.internal.listObjectsV2(this.config.bucket, 'images/', true);
    for await (const item of stream as AsyncIterable<{ name?: string; lastModified?: Date }>) {
      if (item.name && item.lastModified)
        out.push({ key: item.name, lastModified: item.lastModified.getTime() });
    }
    return out;
  }

  /** Deletes images older than the TTL; returns how many. Run periodically by the dispatcher. */
  async sweep(now = Date.now()): Promise<number> {
    const old = (await this.list())
      .filter((o) => o.lastModified + this.config.objectTtlMs <= now)
      .map((o) => o.key);
    for (let i = 0; i < old.length; i += 1000) await this.delete(old.slice(i, i + 1000));
    return old.length;
  }

  /** Readiness probe: the bucket answers. */
  async ping(): Promise<boolean> {
    try {
      return await this.internal.bucketExists(this.config.bucket);
    } catch {
      return false;
    }
  }
}
