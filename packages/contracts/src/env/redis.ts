import { z } from 'zod';

import { int } from './fields.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * The default key prefix. The braces make it a Redis Cluster hash tag: every key of the service hashes
 * to one slot, which multi-key Lua scripts and BullMQ need on a cluster; on a single node they change
 * nothing.
 */
export const DEFAULT_REDIS_PREFIX = '{imagegen}';

/** `REDIS_URL` without its default: a `redis://` or `rediss://` URL. */
export const redisUrl = z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL');

/**
 * `REDIS_PREFIX` without its default: letters, digits, `_ . : -`, and at most one non-empty Redis
 * Cluster hash tag in braces (`{imagegen}`, `myapp:{imagegen}`). Redis hashes only the first `{…}` of a
 * key, so a second tag or a stray brace would silently hash differently than its author meant.
 */
export const redisPrefix = z
  .string()
  .regex(
    /^[A-Za-z0-9_.:-]*(\{[A-Za-z0-9_.:-]+\}[A-Za-z0-9_.:-]*)?$/,
    'only letters, digits, _ . : - and at most one non-empty {hash tag}',
  )
  .min(1, 'must not be empty');

/** A Redis (or Sentinel) node's address. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/**
 * Where the service's Redis is, as the connection factory (@imagegen/jobs `connectRedis`) needs it:
 * one node by URL, a primary found through Sentinel, or a Cluster's seed nodes. Credentials and TLS of
 * the data nodes: in the URL for a single node, `REDIS_USERNAME`/`REDIS_PASSWORD`/`REDIS_TLS` otherwise.
 */
export type RedisTarget =
  | { mode: 'single'; url: string }
  | {
      mode: 'sentinel';
      sentinels: RedisNodeAddress[];
      name: string;
      sentinelPassword: string | undefined;
      username: string | undefined;
      password: string | undefined;
      tls: boolean;
    }
  | {
      mode: 'cluster';
      nodes: RedisNodeAddress[];
      username: string | undefined;
      password: string | undefined;
      tls: boolean;
    };

/**
 * Parses `host:port,host:port,…` (IPv6 hosts in brackets: `[::1]:26379`); throws a message naming the
 * first bad entry.
 */
export function parseNodeList(text: string): RedisNodeAddress[] {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) throw new Error('must list at least one host:port');
  return entries.map((entry) => {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(entry);
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65535) {
      throw new Error(`"${entry}" is not host:port (e.g. redis-1:6379, 10.0.0.5:26379, [::1]:6379)`);
    }
    return { host: m[1] ?? m[2]!, port };
  });
}

const optionalText = z.string().min(1).optional();

/**
 * Redis: `REDIS_URL` (one node), or `REDIS_SENTINELS` + `REDIS_SENTINEL_NAME` (+ `REDIS_SENTINEL_PASSWORD`),
 * or `REDIS_CLUSTER_NODES`; `REDIS_USERNAME`, `REDIS_PASSWORD`, `REDIS_TLS` for the data nodes of the
 * last two; `REDIS_PREFIX`. The output keeps the variables and adds `redis`, the parsed `RedisTarget`.
 */
export const RedisEnv = z
  .object({
    REDIS_URL: redisUrl.optional(),
    REDIS_PREFIX: redisPrefix.default(DEFAULT_REDIS_PREFIX),
    REDIS_SENTINELS: z.string().optional(),
    REDIS_SENTINEL_NAME: optionalText,
    REDIS_SENTINEL_PASSWORD: optionalText,
    REDIS_CLUSTER_NODES: z.string().optional(),
    REDIS_USERNAME: optionalText,
    REDIS_PASSWORD: optionalText,
    REDIS_TLS: z.enum(['true', 'false', '1', '0']).optional(),
  })
  .transform((env, ctx) => {
    const problem = (variable: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [variable], message });
      return z.NEVER;
    };
    const nodes = (variable: 'REDIS_SENTINELS' | 'REDIS_CLUSTER_NODES') => {
      try {
        return parseNodeList(env[variable] ?? '');
      } catch (e) {
        return problem(variable, (e as Error).message);
      }
    };
    const sentinel = env.REDIS_SENTINELS !== undefined;
    const cluster = env.REDIS_CLUSTER_NODES !== undefined;
    const tls = env.REDIS_TLS === 'true' || env.REDIS_TLS === '1';
    const common = { username: env.REDIS_USERNAME, password: env.REDIS_PASSWORD, tls };
    let redis: RedisTarget;
    if (sentinel && cluster) {
      return problem('REDIS_CLUSTER_NODES', 'set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both');
    } else if (sentinel || cluster) {
      if (env.REDIS_URL !== undefined) {
        return problem(
          'REDIS_URL',
          `must not be set with ${sentinel ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER_NODES'} (give credentials in REDIS_USERNAME/REDIS_PASSWORD, TLS in REDIS_TLS)`,
        );
      }
      if (sentinel) {
        const sentinels = nodes('REDIS_SENTINELS');
        if (env.REDIS_SENTINEL_NAME === undefined) {
          return problem(
            'REDIS_SENTINEL_NAME',
            "is needed with REDIS_SENTINELS: the monitored primary's name (e.g. mymaster)",
          );
        }
        redis = {
          mode: 'sentinel',
          sentinels,
          name: env.REDIS_SENTINEL_NAME,
          sentinelPassword: env.REDIS_SENTINEL_PASSWORD,
          ...common,
        };
      } else {
        redis = { mode: 'cluster', nodes: nodes('REDIS_CLUSTER_NODES'), ...common };
      }
    } else {
      for (const v of [
        'REDIS_SENTINEL_NAME',
        'REDIS_SENTINEL_PASSWORD',
        'REDIS_USERNAME',
        'REDIS_PASSWORD',
        'REDIS_TLS',
      ] as const) {
        if (env[v] !== undefined) {
          return problem(
            v,
            v.startsWith('REDIS_SENTINEL')
              ? 'needs REDIS_SENTINELS'
              : 'applies to REDIS_SENTINELS or REDIS_CLUSTER_NODES; for one node put it in REDIS_URL (rediss://user:password@host:port)',
          );
        }
      }
      redis = { mode: 'single', url: env.REDIS_URL ?? DEFAULT_REDIS_URL };
    }
    return {
      REDIS_URL: redis.mode === 'single' ? redis.url : undefined,
      REDIS_PREFIX: env.REDIS_PREFIX,
      redis,
    };
  });

/**
 * The API's durability of an accepted job: `REDIS_MIN_REPLICAS_ACK` (unset = `auto`: 1 while the primary
 * has a connected replica, none otherwise; a number: always that many), `REDIS_WAIT_TIMEOUT_MS` (how long
 * a submit waits for them, 10 to 4000 ms, under the 5 s request command timeout; default 1000).
 */
export const RedisDurabilityEnv = z.object({
  REDIS_MIN_REPLICAS_ACK: z
    .union([z.literal('auto'), z.coerce.number().int().min(0).max(16)], {
      error: 'must be auto or a whole number of replicas from 0 to 16',
    })
    .default('auto'),
  REDIS_WAIT_TIMEOUT_MS: int(1000, 10, 4000),
});
