import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

import type { Cluster, Redis } from 'ioredis';

import { Commands, Keys, redisCall } from '@imagegen/jobs';
import { generateWebhookSecret, isWebhookSecret } from '@imagegen/webhooks';

export interface ApiKeyInfo {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
  /** Jobs the key gets per round of the fair order (1 to 100). */
  weight: number;
  /** At the concurrency limit: `reject` (429) or `queue` (accept and hold until a slot frees). */
  concurrencyPolicy: ConcurrencyPolicy;
}

export const CONCURRENCY_POLICIES = ['reject', 'queue'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];
/** The fair order's weights: a key of weight w gets w jobs per round (lua/includes/fair.lua). */
export const MAX_KEY_WEIGHT = 100;

/** What the admin may change about how a key's jobs are scheduled. */
export interface KeyScheduling {
  weight?: number;
  concurrencyPolicy?: ConcurrencyPolicy;
}

// One-shot hashing (Node ≥ 20.12): about a third of createHash().update().digest()'s time for a secret.
const sha256 = (s: string) => hash('sha256', s, 'buffer');

/** Secrets look like `ig_<id>_<secret>`: a public 12-hex-digit id and 256 random bits (base64url). */
const SECRET = /^ig_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** The key id a well-formed secret names (not verified), or null for a malformed one. */
export function secretKeyId(secret: string): string | null {
  return SECRET.exec(secret)?.[1] ?? null;
}

/** The SHA-256 of a secret, hex: what a key's record stores and the lean submit compares. */
export function secretDigest(secret: string): string {
  return sha256(secret).toString('hex');
}

/** How many ids `create` draws before giving up (each draw collides with odds keys / 2^48). */
const ID_DRAWS = 5;

/** API keys and their webhook signing secrets. */
export interface ApiKeyRepository {
  create(name: string, now?: number): Promise<{ id: string; secret: string; webhookSecret: string }>;
  ensure(
    secret: string,
    name: string,
    now?: number,
    webhookSecret?: string,
  ): Promise<{ id: string; created: boolean; revokedAt: number | null }>;
  webhookSecrets(id: string, now?: number): Promise<string[]>;
  rotateWebhookSecret(
    id: string,
    graceSeconds: number,
    now?: number,
  ): Promise<{ webhookSecret: string; previousValidUntil: number | null } | null>;
  verify(secret: string): Promise<string | null>;
  revoke(id: string, now?: number): Promise<boolean>;
  list(): Promise<ApiKeyInfo[]>;
  /** Sets the key's weight and/or concurrency policy; the key's info, or null for an unknown key. */
  setScheduling(id: string, settings: KeyScheduling): Promise<ApiKeyInfo | null>;
}

/**
 * API keys in Redis, stored as SHA-256 hashes under their public id. The secret is shown once, at
 * creation; verification hashes the presented secret and compares in constant time.
 */
export class RedisApiKeyRepository implements ApiKeyRepository {
  private readonly keys: Keys;
  private readonly commands: Commands;
  private readonly newId: () => string;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
    options: {
      /** Draws a public key id, 12 hex digits (default: 48 random bits); tests force collisions. */
      newId?: () => string;
    } = {},
  ) {
    this.keys = new Keys(prefix);
    this.commands = new Commands(redis);
    this.newId = options.newId ?? (() => randomBytes(6).toString('hex'));
  }

  /**
   * A new key and its webhook signing secret; both are shown only now. Ids are 48 random bits, so two
   * keys may draw the same one (even odds near 2^24 keys): the record is created only where no key is
   * (one Lua command), and a taken id is drawn again, up to ID_DRAWS times.
   */
  async create(
    name: string,
    now = Date.now(),
  ): Promise<{ id: string; secret: string; webhookSecret: string }> {
    for (let draw = 0; draw < ID_DRAWS; draw++) {
      const id = this.newId();
      const secret = `ig_${id}_${randomBytes(32).toString('base64url')}`;
      const webhookSecret = generateWebhookSecret();
      if (await this.store(id, name, secret, webhookSecret, now)) return { id, secret, webhookSecret };
    }
    throw new Error(`no free key id in ${ID_DRAWS} draws`);
  }

  /**
   * Creates a key with a given secret unless it exists (the all-in-one stack's IMAGEGEN_BOOTSTRAP_API_KEY,
   * run on every start), with a given webhook signing secret (IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET) or, when
   * none is given, the one it has or a new one. A revoked key stays revoked: the variable creates a key
   * once and never resurrects one (`revokedAt` says so). `created`: this call made the key (so its
   * webhook secret is new and may be shown, once).
   */
  async ensure(
    secret: string,
    name: string,
    now = Date.now(),
    webhookSecret?: string,
  ): Promise<{ id: string; created: boolean; revokedAt: number | null }> {
    const m = SECRET.exec(secret);
    if (!m) throw new Error('an API key must look like ig_<12 hex digits>_<43 base64url characters>');
    if (webhookSecret !== undefined && !isWebhookSecret(webhookSecret)) {
      throw new Error('a webhook secret must be "whsec_" followed by 24 to 64 bytes in base64');
    }
    const id = m[1]!;
    const created = await this.store(id, name, secret, webhookSecret ?? generateWebhookSecret(), now);
    if (!created) {
      const existing = await redisCall(() => this.redis.hget(this.keys.apiKey(id), 'hash'));
      const stored = Buffer.from(existing ?? '', 'hex');
      const presented = sha256(secret);
      if (stored.length !== presented.length || !timingSafeEqual(stored, presented)) {
        throw new Error(`API key id ${id} already exists with another secret`);
      }
      if (webhookSecret !== undefined) {
        await redisCall(() => this.redis.hset(this.keys.apiKey(id), 'wh_secret', webhookSecret));
      }
    }
    const revokedAt = await redisCall(() => this.redis.hget(this.keys.apiKey(id), 'revoked_at'));
    return { id, created, revokedAt: revokedAt ? Number(revokedAt) : null };
  }

  /** Creates the key's record unless its id is taken; true when created. */
  private async store(
    id: string,
    name: string,
    secret: string,
    webhookSecret: string,
    now: number,
  ): Promise<boolean> {
    const fields = {
      name,
      hash: sha256(secret).toString('hex'),
      created_at: String(now),
      wh_secret: webhookSecret,
    };
    const created = await this.commands.run(
      'createApiKey',
      { apiKey: this.keys.apiKey(id), apiKeys: this.keys.apiKeys() },
      { id, fields: JSON.stringify(fields) },
    );
    return created === 1;
  }

  /**
   * The secrets deliveries for this key are signed with: the current one, then the previous one while
   * its rotation grace period lasts. A key from before webhooks existed gets a secret on first use.
   */
  async webhookSecrets(id: string, now = Date.now()): Promise<string[]> {
    const key = this.keys.apiKey(id);
    const [current, previous, until] = await redisCall(() =>
      this.redis.hmget(key, 'wh_secret', 'wh_prev_secret', 'wh_prev_until'),
    );
    let secrets = current ? [current] : [];
    if (!current) {
      if (!(await redisCall(() => this.redis.exists(key)))) return [];
      await redisCall(() => this.redis.hsetnx(key, 'wh_secret', generateWebhookSecret()));
      secrets = [(await redisCall(() => this.redis.hget(key, 'wh_secret')))!];
    }
    if (previous && Number(until) > now) secrets.push(previous);
    return secrets;
  }

  /**
   * Replaces the signing secret. For `graceSeconds` the old one keeps signing too (two signatures per
   * delivery), so receivers can switch without missing a delivery. Returns the new secret, or null for an
   * unknown key.
   */
  async rotateWebhookSecret(
    id: string,
    graceSeconds: number,
    now = Date.now(),
  ): Promise<{ webhookSecret: string; previousValidUntil: number | null } | null> {
    const key = this.keys.apiKey(id);
    if (!(await redisCall(() => this.redis.exists(key)))) return null;
    const [old] = await this.webhookSecrets(id, now);
    const webhookSecret = generateWebhookSecret();
    const until = graceSeconds > 0 && old ? now + graceSeconds * 1000 : null;
    const tx = this.redis.multi().hset(key, 'wh_secret', webhookSecret);
    if (until !== null) tx.hset(key, 'wh_prev_secret', old!, 'wh_prev_until', String(until));
    else tx.hdel(key, 'wh_prev_secret', 'wh_prev_until');
    await redisCall(() => tx.exec());
    return { webhookSecret, previousValidUntil: until };
  }

  /** The key id of a valid, unrevoked secret, or null. */
  async verify(secret: string): Promise<string | null> {
    const m = SECRET.exec(secret);
    if (!m) return null;
    const [hash, revoked] = await redisCall(() =>
      this.redis.hmget(this.keys.apiKey(m[1]!), 'hash', 'revoked_at'),
    );
    if (!hash || revoked) return null;
    const stored = Buffer.from(hash, 'hex');
    const presented = sha256(secret);
    return stored.length === presented.length && timingSafeEqual(stored, presented) ? m[1]! : null;
  }

  async revoke(id: string, now = Date.now()): Promise<boolean> {
    if (!(await redisCall(() => this.redis.exists(this.keys.apiKey(id))))) return false;
    await redisCall(() => this.redis.hset(this.keys.apiKey(id), 'revoked_at', String(now)));
    // Every API process ends the key's open streams and waits when it hears this (issue 17, finding 11).
    await redisCall(() => this.redis.publish(this.keys.keyRevocations(), id));
    return true;
  }

  async list(): Promise<ApiKeyInfo[]> {
    const ids = (await redisCall(() => this.redis.smembers(this.keys.apiKeys()))).sort();
    const out: ApiKeyInfo[] = [];
    for (const id of ids) {
      const info = await this.info(id);
      if (info) out.push(info);
    }
    return out;
  }

  async setScheduling(id: string, settings: KeyScheduling): Promise<ApiKeyInfo | null> {
    const fields: Record<string, string> = {};
    if (settings.weight !== undefined) fields['weight'] = String(settings.weight);
    if (settings.concurrencyPolicy !== undefined) fields['concurrency_policy'] = settings.concurrencyPolicy;
    // Only an existing key's record is written (the submit command reads these fields from it).
    const written = await this.commands.run(
      'setKeyFields',
      { apiKey: this.keys.apiKey(id) },
      { fields: JSON.stringify(fields) },
    );
    return written === 1 ? this.info(id) : null;
  }

  private async info(id: string): Promise<ApiKeyInfo | null> {
    const h = await redisCall(() => this.redis.hgetall(this.keys.apiKey(id)));
    if (!h['hash']) return null;
    return {
      id,
      name: h['name'] ?? '',
      createdAt: Number(h['created_at']),
      revokedAt: h['revoked_at'] ? Number(h['revoked_at']) : null,
      weight: h['weight'] ? Number(h['weight']) : 1,
      concurrencyPolicy: h['concurrency_policy'] === 'queue' ? 'queue' : 'reject',
    };
  }
}
