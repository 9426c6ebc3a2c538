import type { Cluster, Redis } from 'ioredis';

import { Keys } from './keys.js';
import { redisCall } from './redis.js';

/**
 * The jobs one request started, found again by the same key and body: the OpenAI SDK retries a request on
 * its own (a dropped connection, a 5xx) without any idempotency key, and its retry must attach to the jobs
 * the first attempt started instead of starting more.
 */
export interface RequestAnchors {
  /** The job ids remembered for this key and request digest, or null. */
  recall(keyId: string, digest: string): Promise<string[] | null>;
  /** Remembers the job ids for `ttlSeconds`, replacing any earlier ones. */
  remember(keyId: string, digest: string, jobIds: readonly string[], ttlSeconds: number): Promise<void>;
}

/** Request anchors as Redis strings with a TTL (shared by every API replica). */
export class RedisRequestAnchors implements RequestAnchors {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async recall(keyId: string, digest: string): Promise<string[] | null> {
    const raw = await redisCall(() => this.redis.get(this.keys.requestAnchor(keyId, digest)));
    if (!raw) return null;
    const ids: unknown = JSON.parse(raw);
    return Array.isArray(ids) && ids.every((x) => typeof x === 'string') ? ids : null;
  }

  async remember(
    keyId: string,
    digest: string,
    jobIds: readonly string[],
    ttlSeconds: number,
  ): Promise<void> {
    await redisCall(() =>
      this.redis.set(this.keys.requestAnchor(keyId, digest), JSON.stringify(jobIds), 'EX', ttlSeconds),
    );
  }
}

/** Request anchors in process memory (the fast test tier). */
export class MemoryRequestAnchors implements RequestAnchors {
  private readonly entries = new Map<string, { ids: string[]; until: number }>();

  recall(keyId: string, digest: string): Promise<string[] | null> {
    const e = this.entries.get(`${keyId}:${digest}`);
    return Promise.resolve(e && e.until > Date.now() ? [...e.ids] : null);
  }

  remember(keyId: string, digest: string, jobIds: readonly string[], ttlSeconds: number): Promise<void> {
    this.entries.set(`${keyId}:${digest}`, { ids: [...jobIds], until: Date.now() + ttlSeconds * 1000 });
    return Promise.resolve();
  }
}
