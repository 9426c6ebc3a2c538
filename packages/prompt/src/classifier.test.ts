import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLASSIFIER_THRESHOLDS, classifierVerdict, createModerator } from './classifier.js';

const answer = (scores: Record<string, number>) => ({
  results: [{ flagged: false, categories: {}, category_scores: scores }],
});

describe('classifierVerdict', () => {
  it('maps the endpoint’s categories onto ours and refuses from the tolerance’s threshold', () => {
    expect(classifierVerdict(answer({ violence: 0.51 }), 2)).toEqual({
      allowed: false,
      category: 'violence',
      severity: 3,
    });
    expect(classifierVerdict(answer({ violence: 0.49 }), 2)).toMatchObject({ allowed: true });
    expect(classifierVerdict(answer({ sexual: 0.9 }), 2)).toMatchObject({
      allowed: false,
      category: 'adult',
    });
    expect(classifierVerdict(answer({ 'self-harm/instructions': 0.7 }), 2)).toMatchObject({
      category: 'harmful',
    });
    expect(classifierVerdict(answer({ 'harassment/threatening': 0.7 }), 2)).toMatchObject({
      category: 'hate',
    });
    expect(classifierVerdict(answer({ unknown: 1, violence: 0.1 }), 2)).toMatchObject({ allowed: true });
  });

  it('is monotone in the tolerance, and illegal categories refuse at every level', () => {
    for (const score of [0.1, 0.3, 0.55, 0.7, 0.85, 0.95, 0.99]) {
      const allowed = CLASSIFIER_THRESHOLDS.map(
        (_, t) => classifierVerdict(answer({ violence: score }), t).allowed,
      );
      expect(allowed.indexOf(true) === -1 || allowed.slice(allowed.indexOf(true)).every(Boolean)).toBe(true);
    }
    for (let t = 0; t <= 6; t++) {
      expect(classifierVerdict(answer({ 'sexual/minors': 0.6 }), t)).toMatchObject({
        allowed: false,
        category: 'illegal',
        severity: 'illegal',
      });
      expect(classifierVerdict(answer({ illicit: 0.6 }), t)).toMatchObject({
        allowed: false,
        category: 'illegal',
      });
    }
  });

  it('rejects answers without results or scores', () => {
    expect(() => classifierVerdict({}, 2)).toThrow();
    expect(() => classifierVerdict({ results: [{}] }, 2)).toThrow();
  });
});

describe('createModerator with an OpenAI-compatible /moderations endpoint', () => {
  let server: Server;
  let base = '';
  let reply: (input: string[]) => { status: number; body: string } | 'hang' = () => ({
    status: 200,
    body: '',
  });
  const seen: { headers: IncomingHttpHeaders; body: { model: string; input: string[] } }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as { model: string; input: string[] };
        seen.push({ headers: req.headers, body });
        const r = reply(body.input);
        if (r !== 'hang') res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('asks the model about what the word lists allow, and refuses on its verdict', async () => {
    reply = () => ({ status: 200, body: JSON.stringify(answer({ violence: 0.8 })) });
    const m = createModerator({ baseUrl: base, model: 'guard', apiKey: 'k', timeoutMs: 1000 });
    const v = await m.moderate(['a calm lake', 'a calm lake at dawn'], 2);
    expect(v).toEqual({ allowed: false, category: 'violence', severity: 3, source: 'classifier' });
    expect(seen.at(-1)!.body).toEqual({ model: 'guard', input: ['a calm lake', 'a calm lake at dawn'] });
    expect(seen.at(-1)!.headers['authorization']).toBe('Bearer k');
    reply = () => ({ status: 200, body: JSON.stringify(answer({ violence: 0.1 })) });
    expect(await m.moderate(['a calm lake'], 2)).toMatchObject({ allowed: true, source: 'lexicon' });
  });

  it('does not call the model when the word lists already refuse', async () => {
    const before = seen.length;
    const m = createModerator({ baseUrl: base, timeoutMs: 1000 });
    expect(await m.moderate(['a decapitated corpse'], 2)).toMatchObject({
      allowed: false,
      source: 'lexicon',
      category: 'violence',
    });
    expect(seen.length).toBe(before);
  });

  it('fails open to the word lists, saying why, when the model fails', async () => {
    const m = createModerator({ baseUrl: base, timeoutMs: 200 });
    for (const [r, why] of [
      [() => ({ status: 503, body: '' }), 'http_503'],
      [() => ({ status: 200, body: 'not json' }), 'invalid_json'],
      [() => ({ status: 200, body: '{"results":[]}' }), 'invalid_response'],
      [() => 'hang' as const, 'timeout'],
    ] as const) {
      reply = r;
      expect(await m.moderate(['a calm lake'], 2)).toEqual({
        allowed: true,
        category: null,
        severity: null,
        source: 'lexicon',
        classifier_error: why,
      });
    }
    const down = createModerator({ baseUrl: 'http://127.0.0.1:9/v1', timeoutMs: 500 });
    expect((await down.moderate(['a calm lake'], 2)).classifier_error).toBe('network_error');
  });
});
