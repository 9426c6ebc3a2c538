import type { Cluster, Redis } from 'ioredis';

import { Commands, Keys } from '@imagegen/jobs';

export interface TokenDecision {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Milliseconds until the next token (0 while tokens remain). */
  retryAfterMs: number;
}

/** Per-bucket request limits. */
export interface RateLimiter {
  /**
   * Takes `cost` tokens (default 1) from `bucket`, which holds `perMinute` tokens and refills at that
   * rate, when at least one is there. Cost 0 only looks: `allowed` says whether a token is there.
   */
  take(bucket: string, perMinute: number, cost?: number): Promise<TokenDecision>;
}

/**
 * Token buckets in Redis (one Lua command each take, timed by Redis's clock, so API replicas share a
 * bucket whatever their own clocks say). A bucket bursts to its per-minute number.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly keys: Keys;
  private readonly commands: Commands;

  constructor(redis: Redis | Cluster, prefix: string) {
    this.keys = new Keys(prefix);
    this.commands = new Commands(redis);
  }

  async take(bucket: string, perMinute: number, cost = 1): Promise<TokenDecision> {
    const [allowed, remaining, retryAfterMs] = await this.commands.run(
      'takeToken',
      { bucket: this.keys.rate(bucket) },
      { capacity: perMinute, perMs: perMinute / 60_000, ttlMs: 120_000, cost },
    );
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }
}
