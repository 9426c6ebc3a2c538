import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectRedis, Keys, type Redis } from '@imagegen/jobs';

import { startRedis, type RedisServer } from '../../../test/support/redis.js';
import { RedisApiKeyRepository } from './api-key-repository.js';
import { RedisRateLimiter } from './rate-limiter.js';

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'worker');
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});
const prefix = () => `k-${randomUUID().slice(0, 8)}`;

describe('token buckets', () => {
  it('allow a burst of the per-minute limit, then say when the next token comes', async () => {
    const limiter = new RedisRateLimiter(redis, prefix());
    for (let i = 0; i < 5; i++) {
      expect(await limiter.take('rl', 5)).toMatchObject({ allowed: true, remaining: 4 - i });
    }
    const denied = await limiter.take('rl', 5);
    expect(denied.allowed).toBe(false);
    expect(denied.remaining).toBe(0);
    // One token every 12 s at 5 a minute; a little of it has already refilled.
    expect(denied.retryAfterMs).toBeGreaterThan(11_000);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(12_000);
    // Buckets are per name.
    expect((await limiter.take('other', 5)).allowed).toBe(true);
  });

  it('look without taking at cost 0: allowed while a token is there', async () => {
    const limiter = new RedisRateLimiter(redis, prefix());
    expect(await limiter.take('peek', 2, 0)).toMatchObject({ allowed: true, remaining: 2 });
    await limiter.take('peek', 2);
    await limiter.take('peek', 2);
    expect((await limiter.take('peek', 2, 0)).allowed).toBe(false);
  });

  it('refill on Redis’s clock: an empty bucket last touched a minute ago is full again', async () => {
    const p = prefix();
    const limiter = new RedisRateLimiter(redis, p);
    const [seconds] = await redis.time();
    await redis.hset(new Keys(p).rate('x'), 'tokens', '0', 'at', String(Number(seconds) * 1000 - 60_000));
    expect(await limiter.take('x', 60)).toMatchObject({ allowed: true, remaining: 59 });
  });
});

describe('API keys', () => {
  it('stores only a hash, verifies the secret, and revocation is immediate', async () => {
    const p = prefix();
    const keys = new RedisApiKeyRepository(redis, p);
    const { id, secret } = await keys.create('ci');
    expect(secret).toMatch(/^ig_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const dump = JSON.stringify(await redis.hgetall(new Keys(p).apiKey(id)));
    expect(dump).not.toContain(secret.slice(16));
    expect(await keys.verify(secret)).toBe(id);
    const tampered = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(await keys.verify(tampered)).toBeNull();
    expect(await keys.verify('nonsense')).toBeNull();
    expect((await keys.list()).map((k) => k.name)).toEqual(['ci']);
    expect(await keys.revoke(id)).toBe(true);
    expect(await keys.verify(secret)).toBeNull();
  });

  it('keeps a revoked bootstrap key revoked when the stack makes it valid again at its next start', async () => {
    const keys = new RedisApiKeyRepository(redis, prefix());
    const secret = `ig_0123456789ab_${'r'.repeat(43)}`;
    expect(await keys.ensure(secret, 'bootstrap', 1)).toEqual({
      id: '0123456789ab',
      created: true,
      revokedAt: null,
    });
    expect(await keys.verify(secret)).toBe('0123456789ab');
    await keys.revoke('0123456789ab', 2);
    // Every start of `npm start` with IMAGEGEN_BOOTSTRAP_API_KEY calls ensure: it creates, never resurrects.
    expect(await keys.ensure(secret, 'bootstrap', 3)).toEqual({
      id: '0123456789ab',
      created: false,
      revokedAt: 2,
    });
    expect(await keys.verify(secret)).toBeNull();
    expect((await keys.list()).map((k) => k.revokedAt)).toEqual([2]);
  });

  it('never overwrites a key whose id a new key draws: the new one takes another id', async () => {
    const p = prefix();
    const first = await new RedisApiKeyRepository(redis, p, { newId: () => 'aaaaaaaaaaaa' }).create('first');
    const drawn = ['aaaaaaaaaaaa', 'aaaaaaaaaaaa', 'bbbbbbbbbbbb'];
    const keys = new RedisApiKeyRepository(redis, p, { newId: () => drawn.shift()! });
    const second = await keys.create('second');
    expect(second.id).toBe('bbbbbbbbbbbb');
    expect(await keys.verify(first.secret)).toBe('aaaaaaaaaaaa');
    expect(await keys.verify(second.secret)).toBe('bbbbbbbbbbbb');
    expect(await keys.webhookSecrets('aaaaaaaaaaaa')).toEqual([first.webhookSecret]);
    expect((await keys.list()).map((k) => [k.id, k.name])).toEqual([
      ['aaaaaaaaaaaa', 'first'],
      ['bbbbbbbbbbbb', 'second'],
    ]);
    // An id space that only ever collides fails loudly instead of overwriting.
    const stuck = new RedisApiKeyRepository(redis, p, { newId: () => 'aaaaaaaaaaaa' });
    await expect(stuck.create('third')).rejects.toThrow(/free key id/);
    expect(await keys.verify(first.secret)).toBe('aaaaaaaaaaaa');
  });

  it('keeps a webhook signing secret per key, rotatable with a grace period in which both sign', async () => {
    const keys = new RedisApiKeyRepository(redis, prefix());
    const { id, webhookSecret } = await keys.create('hooks', 1000);
    expect(webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(await keys.webhookSecrets(id, 1000)).toEqual([webhookSecret]);
    const rotated = (await keys.rotateWebhookSecret(id, 3600, 2000))!;
    expect(rotated.webhookSecret).not.toBe(webhookSecret);
    expect(rotated.previousValidUntil).toBe(2000 + 3_600_000);
    expect(await keys.webhookSecrets(id, 3000)).toEqual([rotated.webhookSecret, webhookSecret]);
    expect(await keys.webhookSecrets(id, 2000 + 3_600_001)).toEqual([rotated.webhookSecret]);
    // Without a grace period the old secret stops at once.
    const again = (await keys.rotateWebhookSecret(id, 0, 4000))!;
    expect(await keys.webhookSecrets(id, 4001)).toEqual([again.webhookSecret]);
    expect(await keys.rotateWebhookSecret('000000000000', 0)).toBeNull();
    expect(await keys.webhookSecrets('000000000000')).toEqual([]);
  });

  it('gives the bootstrap key the configured webhook secret', async () => {
    const keys = new RedisApiKeyRepository(redis, prefix());
    const secret = `ig_0123456789ab_${'x'.repeat(43)}`;
    const wh = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    await keys.ensure(secret, 'bootstrap', 1, wh);
    expect(await keys.webhookSecrets('0123456789ab')).toEqual([wh]);
    await expect(keys.ensure(secret, 'bootstrap', 1, 'whsec_nope')).rejects.toThrow(/whsec_/);
    // Restarting without the variable keeps the secret it has.
    await keys.ensure(secret, 'bootstrap', 2);
    expect(await keys.webhookSecrets('0123456789ab')).toEqual([wh]);
  });
});
