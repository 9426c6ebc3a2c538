import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AppError } from '@imagegen/contracts';

import { clientError } from './errors.js';
import { jsonBody } from './middleware.js';

const LIMIT = 64;
let server: Server;
let port: number;
/** The errors the app's error handler received, in order. */
const seen: unknown[] = [];
/** Requests that reached the app. */
let arrived = 0;

/** An app that answers the parsed body, or the error as the API's error handler classifies it. */
beforeAll(async () => {
  const app = express();
  app.use((_req, _res, next) => {
    arrived += 1;
    next();
  });
  app.post('/', ...jsonBody({ limitBytes: LIMIT }), (req, res) => {
    res.json({ body: req.body as unknown });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    seen.push(err);
    const logger = { error: () => undefined, warn: () => undefined } as never;
    const e = clientError(err, { logger, bodyLimitBytes: LIMIT }, 'r');
    res.status(e.httpStatus).json({ error: e instanceof AppError ? e.message : 'unknown' });
  });
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function post(body: Buffer, contentType: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/',
        headers: { 'content-type': contentType, 'content-length': body.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const BODIES: [string, Buffer][] = [
  ['an object', Buffer.from('{"prompt":"a cat","n":1}')],
  ['an array', Buffer.from('[1,2]')],
  ['whitespace around', Buffer.from(' \n\t{"a":[]}\r\n ')],
  ['empty', Buffer.alloc(0)],
  ['only whitespace', Buffer.from('   ')],
  ['a bare string', Buffer.from('"cat"')],
  ['a number', Buffer.from('12')],
  ['null', Buffer.from('null')],
  ['malformed', Buffer.from('{"prompt":')],
  ['a byte-order mark', Buffer.from('\ufeff{"a":1}')],
  ['non-JSON whitespace first', Buffer.from('\u00a0{"a":1}')],
  ['multibyte text', Buffer.from('{"p":"château ☕ 🐈"}')],
  ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])],
  ['over the limit', Buffer.from(`{"p":"${'x'.repeat(LIMIT)}"}`)],
  ['at the limit', Buffer.from(`{"p":"${'x'.repeat(LIMIT - 8)}"}`)],
];

describe('jsonBody', () => {
  // A bare application/json body takes the lean reader; with a charset parameter it goes through
  // express.json: both must answer every body alike.
  it.each(BODIES)('reads %s as express.json does', async (_name, body) => {
    const lean = await post(body, 'application/json');
    const parser = await post(body, 'application/json; charset=utf-8');
    expect(lean).toEqual(parser);
  });

  it('answers each kind of body as the API documents it', async () => {
    const status = async (b: Buffer) => (await post(b, 'application/json')).status;
    expect(await status(BODIES[0]![1])).toBe(200);
    expect(await status(BODIES[8]![1])).toBe(400);
    expect(await status(BODIES[12]![1])).toBe(400);
    expect(await status(BODIES[13]![1])).toBe(413);
    expect(JSON.parse((await post(BODIES[3]![1], 'application/json')).text)).toEqual({ body: {} });
  });

  it('ends a request whose client goes away mid-body with an error, not a hang', async () => {
    const before = seen.length;
    const reached = arrived;
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"a":',
    );
    // The request is being read once it reached the app.
    for (let i = 0; i < 500 && arrived === reached; i++) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    for (let i = 0; i < 200 && seen.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.length, 'the body reader never passed the abort on').toBe(before + 1);
    expect(seen.at(-1)).toMatchObject({ status: 400 });
  });
});
