import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createUpsampler, upsamplePrompt } from '@imagegen/prompt';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let handler: Handler;
const requests: { url: string | undefined; headers: IncomingMessage['headers']; body: unknown }[] = [];

const completion = (content: unknown): string =>
  JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] });
const reply =
  (status: number, body: string): Handler =>
  (_req, _body, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ url: req.url, headers: req.headers, body: JSON.parse(body) as unknown });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests.length = 0;
  handler = reply(200, completion('a rewritten prompt'));
});

describe('createUpsampler (llm)', () => {
  it('posts the OpenAI chat request and returns the cleaned answer', async () => {
    handler = reply(200, completion('  "majestic mountain landscape, alpenglow, 8k"  '));
    const upsampler = createUpsampler({
      kind: 'llm',
      baseUrl: `${baseUrl}/`,
      model: 'tiny-llm',
      apiKey: 'sk-test',
    });
    const result = await upsampler.upsample('mountain landscape', 1234);
    expect(result).toEqual({ prompt: 'majestic mountain landscape, alpenglow, 8k', source: 'llm' });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.url).toBe('/v1/chat/completions');
    expect(request?.headers.authorization).toBe('Bearer sk-test');
    expect(request?.body).toMatchObject({
      model: 'tiny-llm',
      temperature: 0,
      seed: 1234,
      max_tokens: 300,
      messages: [
        { role: 'system', content: expect.stringContaining('text-to-image') as unknown },
        { role: 'user', content: 'mountain landscape' },
      ],
    });
  });

  it.each([
    ['http_500', reply(500, '{"error":"boom"}')],
    ['invalid_json', reply(200, 'not json')],
    ['empty_content', reply(200, completion('  ""  '))],
    ['invalid_response', reply(200, completion(42))],
    ['invalid_response', reply(200, '{"choices":[]}')],
    ['content_too_long', reply(200, completion('x'.repeat(2001)))],
    // 300 characters that NFKC makes 5,400: past the normalized-length bound moderation works within.
    ['content_too_long', reply(200, completion('\uFDFA'.repeat(300)))],
  ])('falls back to the rule engine with reason %s', async (reason, h) => {
    handler = h;
    const result = await createUpsampler({ kind: 'llm', baseUrl, model: 'm' }).upsample('tabby cat', 9);
    expect(result).toEqual({
      prompt: upsamplePrompt('tabby cat', 9),
      source: 'rules',
      fallback_reason: reason,
    });
  });

  it('falls back on timeout', async () => {
    handler = () => undefined; // never answers; the client deadline must fire
    const result = await createUpsampler({ kind: 'llm', baseUrl, model: 'm', timeoutMs: 100 }).upsample(
      'tabby cat',
      2,
    );
    expect(result).toEqual({
      prompt: upsamplePrompt('tabby cat', 2),
      source: 'rules',
      fallback_reason: 'timeout',
    });
  });

  it('falls back when the connection is refused', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const upsampler = createUpsampler({ kind: 'llm', baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' });
    const result = await upsampler.upsample('sunset over ocean', 5);
    expect(result).toEqual({
      prompt: upsamplePrompt('sunset over ocean', 5),
      source: 'rules',
      fallback_reason: 'network_error',
    });
  });
});

describe('createUpsampler (rules) and configuration', () => {
  it('runs the rule engine for kind rules', async () => {
    const result = await createUpsampler({ kind: 'rules' }).upsample('mountain landscape', 3);
    expect(result).toEqual({ prompt: upsamplePrompt('mountain landscape', 3), source: 'rules' });
  });

  it('rejects an llm config without base URL or model at creation', () => {
    expect(() => createUpsampler({ kind: 'llm' })).toThrow(/baseUrl is required; model is required/);
  });
});
