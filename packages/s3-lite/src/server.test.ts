import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as Minio from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { S3LiteServer } from './server.js';

const creds = { accessKey: 'test-access', secretKey: 'test-secret-key-123' };
let dir: string;
let server: S3LiteServer;
let client: Minio.Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 's3-lite-'));
  server = await S3LiteServer.start({ dir, credentials: [creds], lifecycleSweepMs: 0 });
  client = new Minio.Client({
    endPoint: '127.0.0.1',
    port: server.port,
    useSSL: false,
    region: 'us-east-1',
    ...creds,
  });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// The official `minio` client is the reference for what the server must accept and answer.
describe('S3 compatibility with the minio client', () => {
  it('creates, finds and lists buckets', async () => {
    expect(await client.bucketExists('images')).toBe(false);
    await client.makeBucket('images', 'us-east-1');
    expect(await client.bucketExists('images')).toBe(true);
    expect((await client.listBuckets()).map((b) => b.name)).toContain('images');
    await expect(client.makeBucket('images', 'us-east-1')).rejects.toMatchObject({
      code: 'BucketAlreadyOwnedByYou',
    });
  });

  it('stores an object with its content type and metadata, and reads it back', async () => {
    const body = Buffer.concat([Buffer.from([0x89]), Buffer.from('PNG fake image bytes')]);
    await client.putObject('images', 'a/b/c.png', body, body.length, {
      'Content-Type': 'image/png',
      'x-amz-meta-job': 'gen_1',
    });
    const stat = await client.statObject('images', 'a/b/c.png');
    expect(stat.size).toBe(body.length);
    expect(stat.metaData['content-type']).toBe('image/png');
    expect(stat.metaData['job']).toBe('gen_1');
    const chunks: Buffer[] = [];
    for await (const c of await client.getObject('images', 'a/b/c.png')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    const part: Buffer[] = [];
    for await (const c of await client.getPartialObject('images', 'a/b/c.png', 1, 3)) part.push(c as Buffer);
    expect(Buffer.concat(part).toString()).toBe('PNG');
  });

  it('serves presigned GET URLs until they expire, and refuses tampered ones', async () => {
    await client.putObject('images', 'p.jpg', Buffer.from('jpeg'), 4, { 'Content-Type': 'image/jpeg' });
    const url = await client.presignedGetObject('images', 'p.jpg', 3600);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/jpeg');
    expect(await ok.text()).toBe('jpeg');
    const tampered = url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
    );
    expect((await fetch(tampered)).status).toBe(403);
    const otherKey = url.replace('/p.jpg', '/a/b/c.png');
    expect((await fetch(otherKey)).status).toBe(403);
    const past = await client.presignedGetObject('images', 'p.jpg', 1, {}, new Date(Date.now() - 10_000));
    const expired = await fetch(past);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain('Request has expired');
  });

  it('refuses unsigned requests and wrong secrets', async () => {
    expect((await fetch(`${server.endpoint}/images/p.jpg`)).status).toBe(403);
    const wrong = new Minio.Client({
      endPoint: '127.0.0.1',
      port: server.port,
      useSSL: false,
      region: 'us-east-1',
      accessKey: creds.accessKey,
      secretKey: 'nope',
    });
    // minio-js reports a 403 as AccessDenied or by the XML body's code, depending on the call.
    await expect(wrong.getObject('images', 'p.jpg')).rejects.toMatchObject({
      code: expect.stringMatching(/^(SignatureDoesNotMatch|AccessDenied)$/) as unknown,
    });
    const bad = await fetch(`${server.endpoint}/images/p.jpg`, {
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`,
      },
    });
    expect(bad.status).toBe(403);
  });

  it('lists with prefixes and pages, and deletes one or many objects', async () => {
    for (const k of ['gen/1', 'gen/2', 'gen/3', 'other/1'])
      await client.putObject('images', k, Buffer.from(k));
    const listed: string[] = [];
    for await (const o of client.listObjectsV2('images', 'gen/', true))
      listed.push((o as { name: string }).name);
    expect(listed).toEqual(['gen/1', 'gen/2', 'gen/3']);
    await client.removeObject('images', 'gen/1');
    await client.removeObjects('images', ['gen/2', 'gen/3']);
    const left: string[] = [];
    for await (const o of client.listObjectsV2('images', 'gen/', true))
      left.push((o as { name: string }).name);
    expect(left).toEqual([]);
    await expect(client.statObject('images', 'gen/1')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('keeps a lifecycle rule and applies its expiration', async () => {
    await client.setBucketLifecycle('images', {
      Rule: [{ ID: 'expire', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
    });
    const rules = await client.getBucketLifecycle('images');
    expect(JSON.stringify(rules)).toContain('"Days":1');
    await client.putObject('images', 'old.png', Buffer.from('x'));
    expect(await server.applyLifecycle(Date.now())).toBe(0);
    expect(await server.applyLifecycle(Date.now() + 86_400_001)).toBeGreaterThan(0);
    await expect(client.statObject('images', 'old.png')).rejects.toMatchObject({ code: 'NotFound' });
  });
});
