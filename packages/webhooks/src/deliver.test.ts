import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { deliver } from './deliver.js';
import { parseAllowlist, type LookupFn } from './ssrf.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const servers: Server[] = [];

async function receiver(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
  tls = false,
): Promise<{ port: number; requests: { headers: IncomingMessage['headers']; body: string }[] }> {
  const requests: { headers: IncomingMessage['headers']; body: string }[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({ headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const server = tls
    ? createHttpsServer({ key: fixture('test-key.pem'), cert: fixture('test-cert.pem') }, onRequest)
    : createServer(onRequest);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, requests };
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const loopback = parseAllowlist('127.0.0.1');
const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' };

describe('deliver', () => {
  it('POSTs the exact body and headers; 2xx is success', async () => {
    const r = await receiver((_q, res) => res.writeHead(204).end());
    const result = await deliver({
      url: `http://127.0.0.1:${r.port}/hook`,
      body: '{"a":1}',
      headers,
      allowlist: loopback,
    });
    expect(result).toEqual({ ok: true, status: 204 });
    expect(r.requests[0]!.body).toBe('{"a":1}');
    expect(r.requests[0]!.headers['content-type']).toBe('application/json');
    expect(r.requests[0]!.headers['webhook-id']).toBe('msg_1');
  });

  it('delivers over https with the receiver’s certificate trusted', async () => {
    const r = await receiver((_q, res) => res.writeHead(200).end('ok'), true);
    const result = await deliver({
      url: `https://127.0.0.1:${r.port}/hook`,
      body: '{}',
      headers,
      allowlist: loopback,
      ca: fixture('test-cert.pem'),
    });
    expect(result).toEqual({ ok: true, status: 200 });
  });

  it('treats redirects as failures and does not follow them', async () => {
    const target = await receiver((_q, res) => res.writeHead(200).end());
    const r = await receiver((_q, res) =>
      res.writeHead(301, { Location: `http://127.0.0.1:${target.port}/` }).end(),
    );
    const result = await deliver({
      url: `http://127.0.0.1:${r.port}/`,
      body: '{}',
      headers,
      allowlist: loopback,
    });
    expect(result).toMatchObject({ ok: false, status: 301, permanent: false });
    expect(target.requests).toHaveLength(0);
  });

  it('reports 410 as permanent and passes on Retry-After', async () => {
    const gone = await receiver((_q, res) => res.writeHead(410).end());
    expect(
      await deliver({ url: `http://127.0.0.1:${gone.port}/`, body: '{}', headers, allowlist: loopback }),
    ).toMatchObject({ ok: false, status: 410, permanent: true });
    const busy = await receiver((_q, res) => res.writeHead(429, { 'Retry-After': '7' }).end());
    expect(
      await deliver({ url: `http://127.0.0.1:${busy.port}/`, body: '{}', headers, allowlist: loopback }),
    ).toMatchObject({ ok: false, status: 429, permanent: false, retryAfterMs: 7000 });
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const r = await receiver(() => undefined);
    const result = await deliver({
      url: `http://127.0.0.1:${r.port}/`,
      body: '{}',
      headers,
      allowlist: loopback,
      timeoutMs: 200,
    });
    expect(result).toMatchObject({ ok: false, status: null, error: 'timeout', permanent: false });
  });

  it('reports a refused connection as a retryable failure', async () => {
    const r = await receiver(() => undefined);
    servers[0]!.close();
    servers[0]!.closeAllConnections();
    const result = await deliver({
      url: `http://127.0.0.1:${r.port}/`,
      body: '{}',
      headers,
      allowlist: loopback,
    });
    expect(result).toMatchObject({ ok: false, error: 'connect_failed', detail: 'ECONNREFUSED' });
    expect(result).toMatchObject({ permanent: false });
  });

  it('reports a name that does not resolve as the same connect_failed as a closed port', async () => {
    const nxdomain: LookupFn = (_h, _o, cb) =>
      cb(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }), []);
    const result = await deliver({
      url: 'http://hooks.test:9/',
      body: '{}',
      headers,
      allowlist: parseAllowlist('hooks.test'),
      lookup: nxdomain,
    });
    expect(result).toMatchObject({
      ok: false,
      error: 'connect_failed',
      detail: 'ENOTFOUND',
      permanent: false,
    });
  });

  it('classes any answer but a 2xx as http_status, whatever the receiver said', async () => {
    const r = await receiver((_q, res) => res.writeHead(404).end('nginx internal'));
    const result = await deliver({
      url: `http://127.0.0.1:${r.port}/`,
      body: '{}',
      headers,
      allowlist: loopback,
    });
    expect(result).toMatchObject({ ok: false, status: 404, error: 'http_status' });
  });

  it('opens only the named port of an allow-list entry with a port', async () => {
    const r = await receiver((_q, res) => res.writeHead(204).end());
    const other = await receiver((_q, res) => res.writeHead(204).end());
    const allowlist = parseAllowlist(`127.0.0.1:${r.port}`);
    const url = (port: number) => `http://127.0.0.1:${port}/`;
    expect(await deliver({ url: url(r.port), body: '{}', headers, allowlist })).toEqual({
      ok: true,
      status: 204,
    });
    expect(await deliver({ url: url(other.port), body: '{}', headers, allowlist })).toMatchObject({
      ok: false,
      error: 'connect_failed',
      permanent: true,
    });
    expect(other.requests).toHaveLength(0);
  });

  it('refuses at connect time a name that now resolves to a private address (DNS rebinding)', async () => {
    const r = await receiver((_q, res) => res.writeHead(200).end());
    // The name passed the submit-time check with a public address; now it answers with loopback.
    const rebinding: LookupFn = (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
    const https = await deliver({
      url: `https://hooks.test:${r.port}/`,
      body: '{}',
      headers,
      allowlist: parseAllowlist(''),
      lookup: rebinding,
    });
    expect(https).toMatchObject({ ok: false, error: 'connect_failed', detail: 'ESSRF', permanent: true });
    expect(r.requests).toHaveLength(0);
  });

  it('connects to an allow-listed name whatever it resolves to', async () => {
    const r = await receiver((_q, res) => res.writeHead(200).end());
    const toLoopback: LookupFn = (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
    const result = await deliver({
      url: `http://hooks.test:${r.port}/`,
      body: '{}',
      headers,
      allowlist: parseAllowlist('hooks.test'),
      lookup: toLoopback,
    });
    expect(result).toEqual({ ok: true, status: 200 });
  });

  it('refuses private literals before any connection', async () => {
    const r = await receiver((_q, res) => res.writeHead(200).end());
    const result = await deliver({
      url: `https://127.0.0.1:${r.port}/`,
      body: '{}',
      headers,
      allowlist: parseAllowlist(''),
    });
    expect(result).toMatchObject({ ok: false, permanent: true });
    expect(r.requests).toHaveLength(0);
  });
});
