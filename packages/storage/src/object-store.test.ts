import { randomUUID } from 'node:crypto';

import { StorageError } from '@imagegen/contracts';
import * as Minio from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { S3_CREDENTIALS, startS3 } from '../../../test/support/s3.js';
import { newObjectKey, ObjectStore, type StorageConfig } from './object-store.js';

const TTL_MS = 3_600_000;

let s3: Awaited<ReturnType<typeof startS3>>;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3.stop());

/** A store on a bucket of its own, so no test sees another test's objects. */
function storeFor(overrides: Partial<StorageConfig> = {}): ObjectStore {
  return new ObjectStore({
    endpoint: `http://127.0.0.1:${s3.server.port}`,
    // Clients reach the same server under another host name: URLs must be signed for that one.
    publicEndpoint: `http://localhost:${s3.server.port}`,
    ...S3_CREDENTIALS,
    bucket: `images-${randomUUID().slice(0, 8)}`,
    region: 'us-east-1',
    objectTtlMs: TTL_MS,
    ...overrides,
  });
}

async function newBucket(overrides: Partial<StorageConfig> = {}): Promise<ObjectStore> {
  const store = storeFor(overrides);
  await store.ensureBucket();
  return store;
}

async function putImages(store: ObjectStore, n: number): Promise<string[]> {
  const keys = Array.from({ length: n }, () => newObjectKey('jpeg'));
  for (const key of keys) await store.put(key, Buffer.from(key), 'image/jpeg');
  return keys;
}

/** Resolves once the clock has moved past `t`, so the next upload is stamped strictly later. */
async function clockPast(t: number): Promise<void> {
  while (Date.now() <= t) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('ObjectStore against a real S3 endpoint', () => {
  it('creates the bucket once, with the one-day lifecycle rule', async () => {
    const store = storeFor();
    expect(await store.ping()).toBe(false);
    expect(await store.ensureBucket()).toEqual({ created: true, lifecycle: true });
    expect(await store.ensureBucket()).toEqual({ created: false, lifecycle: true });
    expect(await store.ping()).toBe(true);
  });

  it('uses unguessable keys', () => {
    const a = newObjectKey('jpeg');
    expect(a).toMatch(/^images\/[0-9a-f]{32}\.jpg$/);
    expect(newObjectKey('png')).toMatch(/\.png$/);
    expect(newObjectKey('jpeg')).not.toBe(a);
  });

  it('serves the image at a URL signed for the public host, valid exactly one hour after completion', async () => {
    const store = await newBucket();
    const key = newObjectKey('png');
    expect(await store.put(key, Buffer.from('png-bytes'), 'image/png')).toEqual({
      key,
      bytes: 9,
      contentType: 'image/png',
    });
    const completedAt = Date.now() - 60_000;
    const signed = await store.presign(key, completedAt);
    expect(signed!.expiresAt).toBe(completedAt + TTL_MS);
    expect(signed!.url.startsWith(`http://localhost:${s3.server.port}/`)).toBe(true);
    expect(signed!.url).toContain('X-Amz-Expires=3600');
    expect(await store.presign(key, completedAt)).toEqual(signed); // stable across reads
    const res = await fetch(signed!.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(await res.text()).toBe('png-bytes');
    // The same URL re-hosted onto the internal address no longer matches its signature.
    expect((await fetch(signed!.url.replace('localhost', '127.0.0.1'))).status).toBe(403);
    expect(await store.presign(key, completedAt, completedAt + TTL_MS)).toBeNull();
    const stale = await fetch((await store.presign(key, Date.now() - 3_599_000))!.url);
    expect(stale.status).toBe(200);
  });

  it('deletes an image: its URL answers 404 afterwards, and deleting it again succeeds', async () => {
    const store = await newBucket();
    const [key] = await putImages(store, 1);
    const url = (await store.presign(key!, Date.now()))!.url;
    await store.delete([key!]);
    expect((await fetch(url)).status).toBe(404);
    await expect(store.delete([key!])).resolves.toBeUndefined();
    expect(await store.sweep(Date.now() + TTL_MS)).toBe(0);
  });

  it('sweeps exactly the images older than the TTL and keeps the younger ones', async () => {
    const store = await newBucket();
    await putImages(store, 3);
    const oldUntil = Date.now();
    await clockPast(oldUntil);
    const young = await putImages(store, 2);
    expect(await store.sweep(Date.now())).toBe(0);
    expect(await store.sweep(oldUntil + TTL_MS)).toBe(3);
    expect(await store.sweep(oldUntil + TTL_MS)).toBe(0);
    for (const key of young) {
      expect((await fetch((await store.presign(key, Date.now()))!.url)).status).toBe(200);
    }
    expect(await store.sweep(Date.now() + TTL_MS)).toBe(2);
  });

  it('sweeps a bucket larger than one list page, page by page, missing none', async () => {
    const store = await newBucket({ sweepPageSize: 2 });
    await putImages(store, 5);
    const oldUntil = Date.now();
    await clockPast(oldUntil);
    await putImages(store, 2);
    expect(await store.sweep(oldUntil + TTL_MS)).toBe(5);
    expect(await store.sweep(Date.now() + TTL_MS)).toBe(2);
    expect(await store.sweep(Date.now() + TTL_MS)).toBe(0);
  });

  it('reports an S3 error response as a retryable StorageError that keeps the original as its cause', async () => {
    const missing = storeFor(); // its bucket was never created
    const err: unknown = await missing
      .put(newObjectKey('png'), Buffer.from('x'), 'image/png')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'storage_unavailable', retryable: true });
    expect((err as StorageError).cause).toBeInstanceOf(Minio.S3Error);
    expect((err as StorageError).cause).toMatchObject({ code: 'NoSuchBucket' });
    await expect(missing.sweep()).rejects.toBeInstanceOf(StorageError);
  });
});
