import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadApiConfig, startApi } from '@imagegen/api';

import { client, startStack, type TestStack } from '../support/stack.js';

const ADMIN = 'adm_'.padEnd(40, 'x');
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
