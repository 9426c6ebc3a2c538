import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisApiKeyRepository } from '@imagegen/access';
import { connectRedis, type Redis } from '@imagegen/jobs';

import { startRedis, type RedisServer } from '../../../test/support/redis.js';
import { banner, ensureStackKey } from './stack-key.js';

let server: RedisServer;
let redis: Redis;
const dir = mkdtempSync(join(tmpdir(), 'imagegen-stack-key-'));
beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'worker');
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const WHSEC = /whsec_[A-Za-z0-9+/=]{40,}/;
const options = { base: 'http://127.0.0.1:8080', allowlist: '', webhookSecretSet: false };

describe('the npm start banner', () => {
  it('shows the local key and its webhook secret at the start that creates them, then only where the key is', async () => {
    const keys = new RedisApiKeyRepository(redis, `s-${randomUUID().slice(0, 8)}`);
    const keyFile = join(dir, 'api-key');
    const start = async () => {
      const key = await ensureStackKey(keys, { keyFile });
      if (key.revokedAt !== null) throw new Error('revoked');
      return banner(key, { ...options, keyFile, bootstrap: false });
    };
    const first = await start();
    const secret = readFileSync(keyFile, 'utf8').trim();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(first).toContain(`kept in ${keyFile}`);
    expect(first).toContain(secret);
    const id = secret.slice(3, 15);
    const [webhookSecret] = await keys.webhookSecrets(id);
    expect(first).toContain(webhookSecret);
    // The playground link that opens the page ready to use, with the key in its fragment.
    expect(first).toContain(
      `Playground (open this link; it carries the key): ${options.base}/#key=${secret}`,
    );

    const second = await start();
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(secret);
    expect(second).not.toContain(secret.slice(16));
    expect(second).not.toMatch(WHSEC);
    expect(second).toContain(`API key: in ${keyFile} (id ${id})`);
    expect(second).toContain(`KEY=$(cat ${keyFile})`);
    expect(second).toContain(`echo "${options.base}/#key=$(cat ${keyFile})"`);
    expect(second).toContain(`imagegen keys rotate-webhook-secret ${id}`);

    // A revoked local key is replaced by a new one, shown once.
    await keys.revoke(id);
    const third = await start();
    const replaced = readFileSync(keyFile, 'utf8').trim();
    expect(replaced).not.toBe(secret);
    expect(third).toContain(replaced);
  });

  it('never prints a bootstrap key, and its generated webhook secret only when the key is created', async () => {
    const keys = new RedisApiKeyRepository(redis, `s-${randomUUID().slice(0, 8)}`);
    const bootstrapKey = `ig_0123456789ab_${'b'.repeat(43)}`;
    const keyFile = join(dir, 'unused');
    const start = async () => {
      const key = await ensureStackKey(keys, { bootstrapKey, keyFile });
      if (key.revokedAt !== null) throw new Error('revoked');
      return banner(key, { ...options, keyFile, bootstrap: true });
    };
    const first = await start();
    expect(first).not.toContain(bootstrapKey);
    expect(first).toContain('API key: IMAGEGEN_BOOTSTRAP_API_KEY (id 0123456789ab)');
    expect(first).toContain('KEY=$IMAGEGEN_BOOTSTRAP_API_KEY');
    expect(first).toContain(`echo "${options.base}/#key=$IMAGEGEN_BOOTSTRAP_API_KEY"`);
    expect(first).toMatch(WHSEC);
    const second = await start();
    expect(second).not.toContain(bootstrapKey);
    expect(second).not.toMatch(WHSEC);
  });
});
