import type { Cluster, Redis } from 'ioredis';

import { ModelInfo } from '@imagegen/contracts';

import { Keys } from './keys.js';
import { redisCall } from './redis.js';

/** How long a registration counts: workers renew theirs well within it. */
export const MODEL_REGISTRATION_TTL_MS = 5 * 60_000;

/**
 * The models the workers run, as they report them (a Redis hash: model name → ModelInfo JSON). Workers
 * register at start and renew every minute; a model whose workers are all gone drops out after
 * MODEL_REGISTRATION_TTL_MS.
 */
export class ModelRegistry {
  private readonly key: string;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
  ) {
    this.key = new Keys(prefix).models();
  }

  async register(info: Omit<ModelInfo, 'registeredAt'>, now = Date.now()): Promise<void> {
    await redisCall(() =>
      this.redis.hset(this.key, info.name, JSON.stringify({ ...info, registeredAt: now })),
    );
  }

  /** The models registered within the TTL; malformed entries are skipped. */
  async list(now = Date.now()): Promise<ModelInfo[]> {
    const all = await redisCall(() => this.redis.hgetall(this.key));
    return Object.values(all).flatMap((text) => {
      const parsed = ModelInfo.safeParse(JSON.parse(text));
      return parsed.success && now - parsed.data.registeredAt < MODEL_REGISTRATION_TTL_MS
        ? [parsed.data]
        : [];
    });
  }
}
