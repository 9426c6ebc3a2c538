import { randomBytes, randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisApiKeyRepository } from '@imagegen/access';
import { loadApiConfig, startApi } from '@imagegen/api';
import { connectRedis, waitReady } from '@imagegen/jobs';

import { until } from '../support/processes.js';
import { client, startStack, type TestStack } from '../support/stack.js';

const ADMIN = `adm_${randomBytes(32).toString('base64url')}`;
let stack: TestStack;
let api: ReturnType<typeof client>;
beforeAll(async () => {
  stack = await startStack({ workers: 0, env: { ADMIN_API_KEY: ADMIN } });
  api = client(stack);
});
afterAll(async () => {
  await stack.stop();
});

describe('admin endpoints', () => {
  it('are absent unless ADMIN_API_KEY is set', async () => {
    const env = { ...stack.env };
    delete env['ADMIN_API_KEY'];
    const plain = await startApi(loadApiConfig(env));
    try {
      const r = await fetch(`http://127.0.0.1:${plain.port}/admin/v1/keys`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
    } finally {
      await plain.close();
    }
    expect(() => loadApiConfig({ ...env, ADMIN_API_KEY: 'short' })).toThrow(
      /ADMIN_API_KEY: must be at least 32/,
    );
    // Long but guessable admin keys are refused at start too.
    for (const weak of ['adm_'.padEnd(40, 'x'), 'passwordpasswordpasswordpassword', '0123456789'.repeat(4)]) {
      expect(() => loadApiConfig({ ...env, ADMIN_API_KEY: weak })).toThrow(/ADMIN_API_KEY: .*entropy/);
    }
  });

  it('take the auth scheme in any case (RFC 9110 §11.1)', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const headers = { authorization: `${scheme} ${ADMIN}` };
      expect((await api('/admin/v1/keys', { key: null, headers })).status).toBe(200);
      const asKey = { authorization: `${scheme} ${stack.key}` };
      const r = await api('/v1/images/generations/gen_000000000000000000000000', {
        key: null,
        headers: asKey,
      });
      expect(r.status).toBe(404);
    }
  });

  it('refuse API keys and wrong admin keys', async () => {
    expect((await api('/admin/v1/keys')).status).toBe(401);
    expect((await api('/admin/v1/keys', { key: `${ADMIN}y` })).status).toBe(401);
    expect((await api('/admin/v1/keys', { key: null })).json['error']).toMatchObject({
      code: 'unauthorized',
    });
  });

  it('create, list, rotate and revoke keys; revocation is immediate', async () => {
    const created = await api('/admin/v1/keys', { key: ADMIN, body: { name: 'partner' } });
    expect(created.status).toBe(201);
    const { id, secret, webhook_secret } = created.json as {
      id: string;
      secret: string;
      webhook_secret: string;
    };
    expect(webhook_secret).toMatch(/^whsec_/);
    const asPartner = (path: string) => api(path, { key: secret });
    expect((await asPartner('/v1/images/generations/gen_000000000000000000000000')).status).toBe(404);
    const list = await api('/admin/v1/keys', { key: ADMIN });
    expect(list.json['data']).toEqual(
      expect.arrayContaining([expect.objectContaining({ id, name: 'partner', revoked_at: null })]),
    );
    expect(list.text).not.toContain(secret);
    const rotated = await api(`/admin/v1/keys/${id}/webhook-secret/rotate`, {
      key: ADMIN,
      body: { grace_seconds: 60 },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.json['webhook_secret']).not.toBe(webhook_secret);
    expect(await stack.api.apiKeys.webhookSecrets(id)).toEqual([
      rotated.json['webhook_secret'],
      webhook_secret,
    ]);
    expect((await api(`/admin/v1/keys/${id}`, { key: ADMIN, method: 'DELETE' })).json).toEqual({
      id,
      revoked: true,
      canceled_jobs: 0,
    });
    expect((await asPartner('/v1/images/generations/gen_000000000000000000000000')).status).toBe(401);
    expect((await api('/admin/v1/keys/000000000000', { key: ADMIN, method: 'DELETE' })).status).toBe(404);
  });

  it('validate their bodies like every endpoint', async () => {
    const r = await api('/admin/v1/keys', { key: ADMIN, body: { name: '', extra: 1 } });
    expect(r.status).toBe(400);
    expect(r.json['error']).toMatchObject({ code: 'invalid_request' });
    const bad = await api('/admin/v1/keys/abc/webhook-secret/rotate', {
      key: ADMIN,
      body: { grace_seconds: -1 },
    });
    expect(bad.status).toBe(404);
    const wrong = await api('/admin/v1/keys', {
      key: ADMIN,
      body: 'name=x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(wrong.status).toBe(415);
  });
});

describe('failed authentication', () => {
  it('is budgeted per client address: wrong API and admin keys are answered 429 with Retry-After once spent, even for a right key', async () => {
    const prefix = `authfail-${randomUUID().slice(0, 8)}`;
    const redis = connectRedis(stack.env['REDIS_URL']!, 'worker');
    const { secret } = await new RedisApiKeyRepository(redis, prefix).create('t');
    redis.disconnect();
    const own = await startApi(
      loadApiConfig({ ...stack.env, REDIS_PREFIX: prefix, AUTH_FAILURES_PER_MINUTE: '6' }),
    );
    const call = (path: string, key: string) =>
      fetch(`http://127.0.0.1:${own.port}${path}`, { headers: { authorization: `Bearer ${key}` } });
    const job = '/v1/images/generations/gen_000000000000000000000000';
    try {
      expect((await call(job, secret)).status).toBe(404);
      const wrongKey = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await call(job, wrongKey)).status);
      for (let i = 0; i < 4; i++) statuses.push((await call('/admin/v1/keys', `${ADMIN}y`)).status);
      // Six failures are budgeted, the rest are refused before any key is checked.
      expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429, 429]);
      for (const r of [await call(job, secret), await call('/admin/v1/keys', ADMIN)]) {
        expect(r.status).toBe(429);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
      }
    } finally {
      await own.close();
    }
  });
});

/** An SSE stream of a job's events, read as it arrives: the event names so far, and when it ended. */
function openStream(base: string, key: string, id: string) {
  const names: string[] = [];
  const controller = new AbortController();
  const opened = fetch(`${base}/v1/images/generations/${id}/events`, {
    headers: { authorization: `Bearer ${key}` },
    signal: controller.signal,
  });
  const ended = (async () => {
    const res = await opened;
    if (res.status !== 200) return res.status;
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      for (let at = text.indexOf('\n\n'); at >= 0; at = text.indexOf('\n\n')) {
        const name = /^event: (\S+)/m.exec(text.slice(0, at))?.[1];
        if (name) names.push(name);
        text = text.slice(at + 2);
      }
    }
    return 200;
  })().catch(() => -1);
  return { names, ended, close: () => controller.abort() };
}

/** Redis's count of a command's calls so far (INFO commandstats). */
async function calls(url: string, command: string): Promise<number> {
  const redis = connectRedis(url, 'request');
  try {
    await waitReady(redis, 10_000);
    const info = await redis.info('commandstats');
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

describe('revocation reaches in-flight work (issue 17, finding 11)', () => {
  it("cancels the key's queued jobs and ends its open streams and waits", async () => {
    const created = await api('/admin/v1/keys', { key: ADMIN, body: { name: 'to revoke' } });
    const { id, secret } = created.json as { id: string; secret: string };
    const submit = async () => {
      const r = await api('/v1/images/generations', { key: secret, body: { prompt: 'a red circle' } });
      expect(r.status, r.text).toBe(202);
      return r.json['id'] as string;
    };
    const [first, second] = [await submit(), await submit()];
    const stream = openStream(stack.base, secret, first);
    await until('the stream to start', () => stream.names.includes('queued'));
    // No worker runs: this wait would hold for 30 s.
    const wait = api(`/v1/images/generations/${second}?wait=30`, { key: secret });
    await until('the wait to be held', async () => {
      const open = await fetch(`http://127.0.0.1:${stack.api.port}/healthz`);
      return open.ok && (await Promise.race([wait.then(() => false), Promise.resolve(true)]));
    });
    const revoked = await api(`/admin/v1/keys/${id}`, { key: ADMIN, method: 'DELETE' });
    expect(revoked.json).toEqual({ id, revoked: true, canceled_jobs: 2 });
    const waited = await wait;
    expect(waited.status).toBe(401);
    expect(waited.json['error']).toMatchObject({ code: 'unauthorized', message: 'the API key was revoked' });
    expect(await stream.ended).toBe(200);
    // The stream ended without the job object (and so without any image URL).
    expect(stream.names).not.toContain('completed');
    const list = await api(`/admin/v1/jobs?key_id=${id}`, { key: ADMIN });
    const statuses = (list.json['data'] as { status: string }[]).map((j) => j.status);
    expect(statuses).toEqual(['canceled', 'canceled']);
  });
});

describe('streams and waits per key (issue 17, finding 6)', () => {
  it('caps the streams and the waits one key holds in a process, 429 with Retry-After', async () => {
    const strict = await startApi(
      loadApiConfig({ ...stack.env, MAX_STREAMS_PER_KEY: '2', MAX_WAITS_PER_KEY: '1' }),
    );
    const base = `http://127.0.0.1:${strict.port}`;
    const held: ReturnType<typeof openStream>[] = [];
    try {
      const job = (await api('/v1/images/generations', { body: { prompt: 'a blue square' } })).json[
        'id'
      ] as string;
      for (let i = 0; i < 2; i++) {
        const s = openStream(base, stack.key, job);
        held.push(s);
        await until('a stream to start', () => s.names.includes('queued'));
      }
      const third = await fetch(`${base}/v1/images/generations/${job}/events`, {
        headers: { authorization: `Bearer ${stack.key}` },
      });
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('2');
      expect(((await third.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'rate_limited',
        message: expect.stringContaining('MAX_STREAMS_PER_KEY') as unknown,
      });
      const strictApi = client({ base, key: stack.key });
      const firstWait = strictApi(`/v1/images/generations/${job}?wait=20`);
      await until('the first wait to be held', async () => {
        const r = await strictApi(`/v1/images/generations/${job}?wait=1`);
        return r.status === 429 ? r : null;
      }).then((r) => expect(r.json['error']).toMatchObject({ code: 'rate_limited' }));
      // Another key is not limited by this one's streams.
      const other = await stack.api.apiKeys.create('other streams');
      const s = openStream(
        base,
        other.secret,
        (await api('/v1/images/generations', { key: other.secret, body: { prompt: 'x' } })).json[
          'id'
        ] as string,
      );
      held.push(s);
      await until("the other key's stream to start", () => s.names.includes('queued'));
      // A closed stream gives its place back.
      held[0]!.close();
      await until('a freed stream place', async () => {
        const r = await fetch(`${base}/v1/images/generations/${job}/events`, {
          headers: { authorization: `Bearer ${stack.key}` },
        });
        await r.body?.cancel();
        return r.status === 200;
      });
      await api(`/v1/images/generations/${job}/cancel`, { method: 'POST' });
      await firstWait;
    } finally {
      for (const s of held) s.close();
      await strict.close();
    }
  });

  it("reads a job's events once per event for all the streams watching it", async () => {
    const job = (await api('/v1/images/generations', { body: { prompt: 'a green ring' } })).json[
      'id'
    ] as string;
    const streams = Array.from({ length: 30 }, () => openStream(stack.base, stack.key, job));
    try {
      await until('every stream to start', () => streams.every((s) => s.names.includes('queued')));
      const before = await calls(stack.redis.url, 'xrange');
      await api(`/v1/images/generations/${job}/cancel`, { method: 'POST' });
      await until('every stream to end', () => streams.every((s) => s.names.includes('completed')));
      const reads = (await calls(stack.redis.url, 'xrange')) - before;
      // Before: every stream read the job's events itself (30 reads or more for this one event).
      expect(reads).toBeLessThanOrEqual(3);
    } finally {
      for (const s of streams) s.close();
    }
  });
});
