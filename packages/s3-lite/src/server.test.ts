import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as Minio from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { S3LiteServer } from './server.js';
import { sha256Hex, signingKey, uriEncode } from './sigv4.js';

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

  it('copies an object server-side (CopyObject): same bytes and metadata, a Last-Modified of its own', async () => {
    await client.makeBucket('copies', 'us-east-1');
    const body = Buffer.from('the original image bytes');
    await client.putObject('copies', 'images/src.png', body, body.length, {
      'Content-Type': 'image/png',
      'x-amz-meta-job': 'gen_src',
    });
    const before = await client.statObject('copies', 'images/src.png');
    const result = await client.copyObject('copies', 'images/dst.png', '/copies/images/src.png');
    expect(result).toMatchObject({ etag: before.etag });
    const copy = await client.statObject('copies', 'images/dst.png');
    expect(copy.metaData).toMatchObject({ 'content-type': 'image/png', job: 'gen_src' });
    // Listings carry milliseconds (HEAD's Last-Modified only whole seconds).
    const listed = new Map<string, number>();
    for await (const o of client.listObjectsV2('copies', 'images/', true))
      listed.set((o as { name: string }).name, (o as { lastModified: Date }).lastModified.getTime());
    expect(listed.get('images/dst.png')).toBeGreaterThan(listed.get('images/src.png')!);
    const chunks: Buffer[] = [];
    for await (const c of await client.getObject('copies', 'images/dst.png')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    // The copy is independent of its source.
    await client.removeObject('copies', 'images/src.png');
    expect((await client.statObject('copies', 'images/dst.png')).size).toBe(body.length);
    await expect(
      client.copyObject('copies', 'images/other.png', '/copies/images/src.png'),
    ).rejects.toMatchObject({ code: 'NoSuchKey' });
    await expect(
      client.copyObject('copies', 'images/dst.png', '/copies/images/dst.png'),
    ).rejects.toMatchObject({ code: 'InvalidRequest' });
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

  it('lets a page on another origin read a presigned URL (CORS), and nothing else', async () => {
    await client.putObject('images', 'cors.jpg', Buffer.from('jpeg'), 4, { 'Content-Type': 'image/jpeg' });
    const url = await client.presignedGetObject('images', 'cors.jpg', 3600);
    const origin = { origin: 'http://127.0.0.1:8080' };
    const read = await fetch(url, { headers: origin });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBe('*');
    // Without an Origin (not a browser's cross-origin read) no CORS header; a refused read still refuses.
    expect((await fetch(url)).headers.get('access-control-allow-origin')).toBeNull();
    const unsigned = await fetch(`${server.endpoint}/images/cors.jpg`, { headers: origin });
    expect(unsigned.status).toBe(403);
    // Writes never get CORS headers, whatever their origin.
    const put = await fetch(`${server.endpoint}/images/x.jpg`, { method: 'PUT', headers: origin, body: 'x' });
    expect(put.headers.get('access-control-allow-origin')).toBeNull();
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

// ---------------------------------------------------------------- issue 17, finding 2

/** Everything the server sends on a fresh connection after `head` (and `body`), until it closes it. */
function rawExchange(
  port: number,
  head: string,
  feed: (socket: Socket) => void = () => undefined,
): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head);
      feed(socket);
    });
    socket.setTimeout(20_000, () => socket.destroy());
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/** A header-signed SigV4 request for this server, as a client library would sign it. */
function signedHeaders(method: string, path: string, payloadSha256: string, secret = creds.secretKey) {
  const amzDate = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const host = `127.0.0.1:${server.port}`;
  const names = 'host;x-amz-content-sha256;x-amz-date';
  const canonical = [
    method,
    uriEncode(path, true),
    '',
    `host:${host}\nx-amz-content-sha256:${payloadSha256}\nx-amz-date:${amzDate}\n`,
    names,
    payloadSha256,
  ].join('\n');
  const scope = `${date}/us-east-1/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const signature = createHmac('sha256', signingKey(secret, date, 'us-east-1', 's3'))
    .update(toSign)
    .digest('hex');
  return {
    host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadSha256,
    authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${names}, Signature=${signature}`,
  };
}

/** The temporary files of uploads in progress in a bucket, with their sizes. */
const uploadsInProgress = (bucket: string) =>
  readdirSync(join(dir, bucket))
    .filter((n) => n.startsWith('.tmp-') && !n.endsWith('.json'))
    .map((n) => statSync(join(dir, bucket, n)).size);

describe('hostile requests (issue 17, finding 2)', () => {
  beforeAll(async () => {
    if (!(await client.bucketExists('uploads'))) await client.makeBucket('uploads', 'us-east-1');
  });

  it('refuses an unsigned upload before reading its body, and closes the connection', async () => {
    // 60 MiB announced, 1 MiB sent, then nothing: the answer must not wait for the rest.
    const answer = await rawExchange(
      server.port,
      `PUT /uploads/big HTTP/1.1\r\nHost: x\r\nContent-Length: ${60 * 2 ** 20}\r\n\r\n`,
      (socket) => socket.write(Buffer.alloc(2 ** 20, 0x61)),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(uploadsInProgress('uploads')).toEqual([]);
  });

  it('writes an authenticated upload to disk as it arrives, not into memory', async () => {
    const url = new URL(await client.presignedPutObject('uploads', 'streamed.bin', 600));
    const total = 8 * 2 ** 20;
    let sendRest: () => void = () => undefined;
    const answer = rawExchange(
      server.port,
      `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`,
      (socket) => {
        socket.write(Buffer.alloc(total / 2, 0x62));
        sendRest = () => socket.write(Buffer.alloc(total / 2, 0x62));
      },
    );
    // Half the body is on disk, in the upload's temporary file, before the rest is sent.
    await until(() => uploadsInProgress('uploads').some((size) => size >= total / 2));
    sendRest();
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
    expect((await client.statObject('uploads', 'streamed.bin')).size).toBe(total);
    expect(uploadsInProgress('uploads')).toEqual([]);
  });

  it('refuses a body whose SHA-256 is not the signed one, and stores nothing', async () => {
    const signedFor = sha256Hex('the body that was signed');
    const headers = signedHeaders('PUT', '/uploads/mismatch', signedFor);
    const res = await fetch(`${server.endpoint}/uploads/mismatch`, {
      method: 'PUT',
      headers,
      body: 'another body of other bytes',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('XAmzContentSHA256Mismatch');
    await expect(client.statObject('uploads', 'mismatch')).rejects.toMatchObject({ code: 'NotFound' });
    expect(uploadsInProgress('uploads')).toEqual([]);
    // The same signing, with the body it names, is accepted: the refusal is the hash, not the signer.
    const ok = await fetch(`${server.endpoint}/uploads/mismatch`, {
      method: 'PUT',
      headers: signedHeaders('PUT', '/uploads/mismatch', sha256Hex('the body that was signed')),
      body: 'the body that was signed',
    });
    expect(ok.status).toBe(200);
  });

  it('answers malformed %-encoding 400, not 500', async () => {
    const res = await fetch(`${server.endpoint}/uploads/%E0%A4%A`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('InvalidURI');
  });

  it('answers an unknown access key exactly like a wrong secret', async () => {
    const unknown = new Minio.Client({
      endPoint: '127.0.0.1',
      port: server.port,
      useSSL: false,
      region: 'us-east-1',
      accessKey: 'no-such-access-key',
      secretKey: creds.secretKey,
    });
    const wrongSecret = new Minio.Client({
      endPoint: '127.0.0.1',
      port: server.port,
      useSSL: false,
      region: 'us-east-1',
      accessKey: creds.accessKey,
      secretKey: 'not-the-secret',
    });
    const answers = await Promise.all(
      [unknown, wrongSecret].map(async (c) => {
        const res = await fetch(await c.presignedGetObject('images', 'p.jpg', 60));
        const text = (await res.text()).replace(/<RequestId>[^<]*<\/RequestId>/, '');
        return `${res.status} ${text}`;
      }),
    );
    expect(answers[0]).toContain('SignatureDoesNotMatch');
    expect(answers[0]).toBe(answers[1]);
  });

  it('cuts an upload whose body trickles in, with a short request time', async () => {
    const strictDir = mkdtempSync(join(tmpdir(), 's3-lite-strict-'));
    const strict = await S3LiteServer.start({
      dir: strictDir,
      credentials: [creds],
      lifecycleSweepMs: 0,
      requestTimeoutMs: 1000,
    });
    let trickle: NodeJS.Timeout | undefined;
    try {
      const strictClient = new Minio.Client({
        endPoint: '127.0.0.1',
        port: strict.port,
        useSSL: false,
        region: 'us-east-1',
        ...creds,
      });
      await strictClient.makeBucket('uploads', 'us-east-1');
      // Signed, so it passes authentication; then one byte every 200 ms of the 1000 it announced.
      const url = new URL(await strictClient.presignedPutObject('uploads', 'slow', 600));
      const answer = await rawExchange(
        strict.port,
        `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1000\r\n\r\n`,
        (socket) => {
          trickle = setInterval(() => socket.writable && socket.write('x'), 200);
        },
      );
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
      await strict.close();
      rmSync(strictDir, { recursive: true, force: true });
    }
  });
});

async function until(condition: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
