import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { join } from 'node:path';

/** Why `putStream` refused a body: it grew past the limit, or its SHA-256 is not the one declared. */
export class BodyRefused extends Error {
  constructor(readonly reason: 'too_large' | 'sha256_mismatch') {
    super(reason);
  }
}

/** Object metadata kept next to each object's bytes. */
export interface ObjectMeta {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  lastModified: number;
  userMeta: Record<string, string>;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Buckets and objects on the local file system: `<root>/<bucket>/<base64url(key)>` holds the bytes and
 * `….json` the metadata. Writes go to a temporary file first and are renamed into place, so a reader
 * never sees a partial object.
 */
export class FileStore {
  constructor(private readonly root: string) {}

  static validBucketName(name: string): boolean {
    return BUCKET_NAME.test(name) && !name.includes('..');
  }

  private bucketDir(bucket: string): string {
    return join(this.root, bucket);
  }

  private objectPath(bucket: string, key: string): string {
    return join(this.bucketDir(bucket), Buffer.from(key, 'utf8').toString('base64url'));
  }

  async bucketExists(bucket: string): Promise<boolean> {
    try {
      return (await stat(this.bucketDir(bucket))).isDirectory();
    } catch {
      return false;
    }
  }

  async createBucket(bucket: string): Promise<boolean> {
    if (await this.bucketExists(bucket)) return false;
    await mkdir(this.bucketDir(bucket), { recursive: true });
    return true;
  }

  async deleteBucket(bucket: string): Promise<'deleted' | 'not_empty'> {
    const entries = await this.list(bucket, '');
    if (entries.length > 0) return 'not_empty';
    await rm(this.bucketDir(bucket), { recursive: true, force: true });
    return 'deleted';
  }

  /**
   * Stores an object from a stream, written to disk as it arrives while its MD5 (the ETag) and SHA-256 are
   * computed: nothing of the body is held in memory. Refused (BodyRefused, nothing stored, the temporary file
   * removed) past `maxBytes` or when its SHA-256 is not `sha256` (hex, when given).
   */
  async putStream(
    bucket: string,
    key: string,
    body: NodeJS.ReadableStream,
    contentType: string,
    userMeta: Record<string, string>,
    limits: { maxBytes: number; sha256: string | null },
  ): Promise<ObjectMeta> {
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    let size = 0;
    const tmp = join(this.bucketDir(bucket), `.tmp-${randomUUID()}`);
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > limits.maxBytes) return done(new BodyRefused('too_large'));
        md5.update(chunk);
        sha256.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, measure, createWriteStream(tmp));
      if (limits.sha256 !== null && sha256.digest('hex') !== limits.sha256)
        throw new BodyRefused('sha256_mismatch');
      const meta: ObjectMeta = {
        key,
        size,
        etag: md5.digest('hex'),
        contentType,
        lastModified: Date.now(),
        userMeta,
      };
      return await this.install(tmp, bucket, key, meta);
    } catch (e) {
      await this.discard(tmp);
      throw e;
    }
  }

  /** Moves a written temporary file into place, metadata first: a reader never sees bytes without it. */
  private async install(tmp: string, bucket: string, key: string, meta: ObjectMeta): Promise<ObjectMeta> {
    const path = this.objectPath(bucket, key);
    await writeFile(`${tmp}.json`, JSON.stringify(meta));
    await rename(`${tmp}.json`, `${path}.json`);
    await rename(tmp, path);
    return meta;
  }

  private async discard(tmp: string): Promise<void> {
    await rm(tmp, { force: true });
    await rm(`${tmp}.json`, { force: true });
  }

  /**
   * Copies an object (CopyObject): the copy has the source's bytes, ETag, type and user metadata (or the
   * given ones), and its own Last-Modified (now). Null when the source does not exist.
   */
  async copy(
    from: { bucket: string; key: string },
    to: { bucket: string; key: string },
    replace: { contentType: string; userMeta: Record<string, string> } | null,
  ): Promise<ObjectMeta | null> {
    const source = await this.head(from.bucket, from.key);
    if (!source) return null;
    const tmp = join(this.bucketDir(to.bucket), `.tmp-${randomUUID()}`);
    try {
      await copyFile(this.objectPath(from.bucket, from.key), tmp);
      const meta: ObjectMeta = {
        ...source,
        ...(replace ?? {}),
        key: to.key,
        lastModified: Date.now(),
      };
      return await this.install(tmp, to.bucket, to.key, meta);
    } catch (e) {
      await this.discard(tmp);
      // The source went away between its metadata and its bytes.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Where an object's bytes are kept (to stream them). */
  bytesPath(bucket: string, key: string): string {
    return this.objectPath(bucket, key);
  }

  async head(bucket: string, key: string): Promise<ObjectMeta | null> {
    try {
      const meta = JSON.parse(await readFile(`${this.objectPath(bucket, key)}.json`, 'utf8')) as ObjectMeta;
      await stat(this.objectPath(bucket, key));
      return meta;
    } catch {
      return null;
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    const path = this.objectPath(bucket, key);
    await rm(path, { force: true });
    await rm(`${path}.json`, { force: true });
  }

  /** Every object of a bucket whose key starts with `prefix`, sorted by key (S3 order: UTF-8 bytes). */
  async list(bucket: string, prefix: string): Promise<ObjectMeta[]> {
    let names: string[];
    try {
      names = await readdir(this.bucketDir(bucket));
    } catch {
      return [];
    }
    const out: ObjectMeta[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const key = Buffer.from(name.slice(0, -5), 'base64url').toString('utf8');
      if (!key.startsWith(prefix)) continue;
      const meta = await this.head(bucket, key);
      if (meta) out.push(meta);
    }
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  async writeConfig(bucket: string, name: string, body: string | null): Promise<void> {
    const path = join(this.bucketDir(bucket), `.${name}.xml`);
    if (body === null) await rm(path, { force: true });
    else await writeFile(path, body);
  }

  async readConfig(bucket: string, name: string): Promise<string | null> {
    try {
      return await readFile(join(this.bucketDir(bucket), `.${name}.xml`), 'utf8');
    } catch {
      return null;
    }
  }

  async buckets(): Promise<{ name: string; created: number }[]> {
    await mkdir(this.root, { recursive: true });
    const out: { name: string; created: number }[] = [];
    for (const name of await readdir(this.root)) {
      const s = await stat(join(this.root, name));
      if (s.isDirectory() && FileStore.validBucketName(name))
        out.push({ name, created: s.birthtimeMs || s.mtimeMs });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
