import { describe, expect, it } from 'vitest';

import { ConfigError, parseEnv, parseNodeList, RedisDurabilityEnv, RedisEnv, type Env } from '../index.js';

const redis = (env: Env) => parseEnv(env, [RedisEnv]).redis;

/** The problems a parse reports, as `VARIABLE: message` lines. */
function problems(env: Env, fragment: typeof RedisEnv | typeof RedisDurabilityEnv = RedisEnv): string[] {
  try {
    parseEnv(env, [fragment]);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.variable}: ${p.message}`);
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('RedisEnv', () => {
  it('is one node by URL by default, credentials and TLS in the URL', () => {
    expect(redis({})).toEqual({ mode: 'single', url: 'redis://127.0.0.1:6379' });
    expect(parseEnv({ REDIS_URL: 'rediss://app:pw@redis.internal:6380/2' }, [RedisEnv])).toMatchObject({
      REDIS_URL: 'rediss://app:pw@redis.internal:6380/2',
      redis: { mode: 'single', url: 'rediss://app:pw@redis.internal:6380/2' },
    });
  });

  it('finds the primary through Sentinel, with the data nodes’ credentials and TLS apart', () => {
    expect(
      parseEnv(
        {
          REDIS_SENTINELS: 's1:26379, 10.0.0.7:26380,[::1]:26381',
          REDIS_SENTINEL_NAME: 'mymaster',
          REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
          REDIS_USERNAME: 'imagegen',
          REDIS_PASSWORD: 'data-secret',
          REDIS_TLS: 'true',
        },
        [RedisEnv],
      ),
    ).toEqual({
      REDIS_URL: undefined,
      REDIS_PREFIX: '{imagegen}',
      redis: {
        mode: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: '10.0.0.7', port: 26380 },
          { host: '::1', port: 26381 },
        ],
        name: 'mymaster',
        sentinelPassword: 'sentinel-secret',
        username: 'imagegen',
        password: 'data-secret',
        tls: true,
      },
    });
  });

  it('connects to a Cluster from its seed nodes', () => {
    expect(redis({ REDIS_CLUSTER_NODES: 'r1:7000,r2:7001', REDIS_PASSWORD: 'pw' })).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'r1', port: 7000 },
        { host: 'r2', port: 7001 },
      ],
      username: undefined,
      password: 'pw',
      tls: false,
    });
  });

  it('names what is wrong and what to change', () => {
    expect(problems({ REDIS_SENTINELS: 'a:1', REDIS_CLUSTER_NODES: 'b:2' })).toEqual([
      'REDIS_CLUSTER_NODES: set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both',
    ]);
    expect(problems({ REDIS_SENTINELS: 'a:1' })).toEqual([
      "REDIS_SENTINEL_NAME: is needed with REDIS_SENTINELS: the monitored primary's name (e.g. mymaster)",
    ]);
    expect(problems({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://a:1' })[0]).toMatch(
      /^REDIS_URL: must not be set with REDIS_CLUSTER_NODES/,
    );
    expect(problems({ REDIS_CLUSTER_NODES: 'a:1,b' })).toEqual([
      'REDIS_CLUSTER_NODES: "b" is not host:port (e.g. redis-1:6379, 10.0.0.5:26379, [::1]:6379)',
    ]);
    expect(problems({ REDIS_SENTINELS: ' , ', REDIS_SENTINEL_NAME: 'm' })).toEqual([
      'REDIS_SENTINELS: must list at least one host:port',
    ]);
    expect(problems({ REDIS_PASSWORD: 'pw' })[0]).toMatch(
      /^REDIS_PASSWORD: applies to REDIS_SENTINELS or REDIS_CLUSTER_NODES; for one node put it in REDIS_URL/,
    );
    expect(problems({ REDIS_SENTINEL_NAME: 'm' })).toEqual(['REDIS_SENTINEL_NAME: needs REDIS_SENTINELS']);
    expect(problems({ REDIS_CLUSTER_NODES: 'a:1', REDIS_TLS: 'yes' })[0]).toMatch(/^REDIS_TLS: /);
    expect(problems({ REDIS_URL: 'http://x' })).toEqual(['REDIS_URL: must be a redis:// or rediss:// URL']);
  });

  it('parses ports in range only', () => {
    expect(() => parseNodeList('h:0')).toThrow(/"h:0" is not host:port/);
    expect(() => parseNodeList('h:65536')).toThrow(/is not host:port/);
    expect(parseNodeList('h:65535')).toEqual([{ host: 'h', port: 65535 }]);
  });
});

describe('RedisDurabilityEnv', () => {
  it('waits for replicas automatically by default, for up to a second', () => {
    expect(parseEnv({}, [RedisDurabilityEnv])).toEqual({
      REDIS_MIN_REPLICAS_ACK: 'auto',
      REDIS_WAIT_TIMEOUT_MS: 1000,
    });
    expect(parseEnv({ REDIS_MIN_REPLICAS_ACK: '2' }, [RedisDurabilityEnv]).REDIS_MIN_REPLICAS_ACK).toBe(2);
    expect(parseEnv({ REDIS_MIN_REPLICAS_ACK: '0' }, [RedisDurabilityEnv]).REDIS_MIN_REPLICAS_ACK).toBe(0);
  });

  it('refuses a count that is not one and a wait past the request command timeout', () => {
    expect(problems({ REDIS_MIN_REPLICAS_ACK: 'some' }, RedisDurabilityEnv)).toEqual([
      'REDIS_MIN_REPLICAS_ACK: must be auto or a whole number of replicas from 0 to 16',
    ]);
    expect(problems({ REDIS_WAIT_TIMEOUT_MS: '5000' }, RedisDurabilityEnv)[0]).toMatch(
      /^REDIS_WAIT_TIMEOUT_MS: /,
    );
  });
});
