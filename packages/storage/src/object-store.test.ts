import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { S3_CREDENTIALS, startS3 } from '../../../test/support/s3.js';
import { newObjectKey, ObjectStore } from './object-store.js';

let s3: Awaited<ReturnType<typeof startS3>>;
let store: ObjectStore;
beforeAll(async () => {
  s3 = await startS3();
  store = new ObjectStore({
    endpoint: `http://127.0.0.1:${s3.server.port}`,
    // Clients reach the same server under another host name: URLs must be signed for that one.
    publicEndpoint: `http://localhost:${s3.server.port}`,
    ...S3_CREDENTIALS,
    bucket: `images-${randomUUID().slice(0, 8)}`,
    region: 'us-east-1',
    objectTtlMs: 3_600_000,
  });
});
afterAll(() => s3.stop());

describe('ObjectStore against a real S3 endpoint', () => {
  it('creates the bucket once, with the one-day lifecycle rule', async () => {
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
    const key = newObjectKey('png');
    await store.put(key, Buffer.from('png-bytes'), 'image/png');
    const completedAt = Date.now() - 60_000;
    const signed = await store.presign(key, completedAt);
    expect(signed!.expiresAt).toBe(completedAt + 3_600_000);
    expect(signed!.url.startsWith(`http://localhost:${s3.server.port}/`)).toBe(true);
    expect(signed!.url).toContain('X-Amz-Expires=3600');
    expect(await store.presign(key, completedAt)).toEqual(signed); // stable across reads
    const res = await fetch(signed!.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(await res.text()).toBe('png-bytes');
    // The same URL re-hosted onto the internal address no longer matches its signature.
    expect((await fetch(signed!.url.replace('localhost', '127.0.0.1'))).status).toBe(403);
    expect(await store.presign(key, completedAt, completedAt + 3_600_000)).toBeNull();
    const stale = await fetch((await store.presign(key, Date.now() - 3_599_000))!.url);
    expect(stale.status).toBe(200);
  });

  it('sweeps objects older than the TTL and keeps younger ones', async () => {
    const key = newObjectKey('jpeg');
    await store.put(key, Buffer.from('x'), 'image/jpeg');
    expect(await store.sweep(Date.now())).toBe(0);
    expect(await store.sweep(Date.now() + 3_600_001)).toBeGreaterThanOrEqual(2);
    expect(await store.sweep(Date.now() + 3_600_001)).toBe(0);
  });
});
