import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import type { Redis } from 'ioredis';

import { Keys } from './keys.js';

export interface ApiKeyInfo {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Secrets look like `ig_<id>_<secret>`: a public 12-hex-digit id and 256 random bits (base64url). */
const SECRET = /^ig_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/**
 * API keys in Redis, stored as SHA-256 hashes under their public id. The secret is shown once, at
 * creation; verification hashes the presented secret and compares in constant time.
 */
export class ApiKeyStore {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix = 'imagegen',
  ) {
    this.keys = new Keys(prefix);
  }

  async create(name: string, now = Date.now()): Promise<{ id: string; secret: string }> {
    const id = randomBytes(6).toString('hex');
    const secret = `ig_${id}_${randomBytes(32).toString('base64url')}`;
    await this.store(id, name, secret, now);
    return { id, secret };
  }

  /** Makes a given secret valid (the all-in-one stack's IMAGEGEN_BOOTSTRAP_API_KEY). */
  async ensure(secret: string, name: string, now = Date.now()): Promise<{ id: string }> {
    const m = SECRET.exec(secret);
    if (!m) throw new Error('an API key must look like ig_<12 hex digits>_<43 base64url characters>');
    const id = m[1]!;
    const existing = await this.redis.hget(this.keys.apiKey(id), 'hash');
    if (!existing) await this.store(id, name, secret, now);
    else if (!timingSafeEqual(Buffer.from(existing, 'hex'), sha256(secret))) {
      throw new Error(`API key id ${id} already exists with another secret`);
    }
    await this.redis.hdel(this.keys.apiKey(id), 'revoked_at');
    return { id };
  }

  private async store(id: string, name: string, secret: string, now: number): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.apiKey(id), { name, hash: sha256(secret).toString('hex'), created_at: String(now) })
      .sadd(this.keys.apiKeys(), id)
      .exec();
  }

  /** The key id of a valid, unrevoked secret, or null. */
  async verify(secret: string): Promise<string | null> {
    const m = SECRET.exec(secret);
    if (!m) return null;
    const [hash, revoked] = await this.redis.hmget(this.keys.apiKey(m[1]!), 'hash', 'revoked_at');
    if (!hash || revoked) return null;
    const stored = Buffer.from(hash, 'hex');
    const presented = sha256(secret);
    return stored.length === presented.length && timingSafeEqual(stored, presented) ? m[1]! : null;
  }

  async revoke(id: string, now = Date.now()): Promise<boolean> {
    if (!(await this.redis.exists(this.keys.apiKey(id)))) return false;
    await this.redis.hset(this.keys.apiKey(id), 'revoked_at', String(now));
    return true;
  }

  async list(): Promise<ApiKeyInfo[]> {
    const ids = (await this.redis.smembers(this.keys.apiKeys())).sort();
    const out: ApiKeyInfo[] = [];
    for (const id of ids) {
      const h = await this.redis.hgetall(this.keys.apiKey(id));
      if (!h['hash']) continue;
      out.push({
        id,
        name: h['name'] ?? '',
        createdAt: Number(h['created_at']),
        revokedAt: h['revoked_at'] ? Number(h['revoked_at']) : null,
      });
    }
    return out;
  }
}
