import { randomBytes, randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisApiKeyRepository } from '@imagegen/access';
import { loadApiConfig, startApi } from '@imagegen/api';
import { connectRedis } from '@imagegen/jobs';

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
