import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisUnavailableError } from '@imagegen/contracts';
import { connectRedis, ReplicaAck, ReplicationTimeoutError, waitReady, type Redis } from '@imagegen/jobs';

import { redisCli, startNode, startSentinelSet, type SentinelSet } from '../support/redis-topologies.js';
import { until } from '../support/processes.js';
import { freePort } from '../support/redis.js';

// A real primary with a real replica (no sentinels): what WAIT confirms, and what it
// cannot.
let set: SentinelSet;
let redis: Redis;
beforeAll(async () => {
  set = await startSentinelSet({ sentinels: 0 });
  redis = connectRedis(`redis://127.0.0.1:${set.primary.port}`, 'request');
  redis.on('error', () => undefined);
  await waitReady(redis, 10_000);
  // The replica is started, but its link to the primary may not be up yet: 'auto' counts only connected
  // replicas, so wait until the primary lists it.
  await until('the replica to connect to the primary', async () => {
    const role = (await redis.call('ROLE')) as [string, number, unknown[]];
    return role[2].length > 0;
  });
});
afterAll(async () => {
  redis.disconnect();
  await set.stop();
});

describe('ReplicaAck on a primary with one replica', () => {
  it('confirms a write once the replica holds it, and the replica does', async () => {
    const ack = new ReplicaAck(redis, 'ra1', { minReplicas: 'auto', timeoutMs: 2000 });
    expect(await ack.wanted()).toBe(1);
    await redis.set('{ra1}:probe-write', 'v1');
    expect(await ack.confirm('the write')).toEqual({ wanted: 1, acked: 1 });
    expect(redisCli(set.replica.port, 'get', '{ra1}:probe-write').trim()).toBe('v1');
  });

  it('refuses to confirm when the replica does not answer in time (503, not accepted)', async () => {
    const ack = new ReplicaAck(redis, 'ra2', { minReplicas: 1, timeoutMs: 200 });
    set.replica.process.kill('SIGSTOP');
    try {
      await redis.set('{ra2}:probe-write', 'v2');
      const err = await ack.confirm('job gen_x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReplicationTimeoutError);
      expect(err).toBeInstanceOf(RedisUnavailableError);
      expect(err).toMatchObject({ code: 'service_unavailable', httpStatus: 503, retryAfterS: 1 });
      expect((err as Error).message).toMatch(
        /^job gen_x was written on the Redis primary but 0 of 1 replica/,
      );
    } finally {
      set.replica.process.kill('SIGCONT');
    }
    await until(
      'the replica to catch up',
      () => redisCli(set.replica.port, 'get', '{ra2}:probe-write').trim() === 'v2',
    );
  });

  it('waits for nothing on a primary without replicas (auto) and for nothing when told 0', async () => {
    const port = await freePort();
    const lone = await startNode(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      /Ready to accept connections/,
      port,
    );
    const c = connectRedis(`redis://127.0.0.1:${port}`, 'request');
    await waitReady(c, 10_000);
    try {
      expect(await new ReplicaAck(c, 'ra3', { minReplicas: 'auto', timeoutMs: 200 }).confirm('w')).toEqual({
        wanted: 0,
        acked: 0,
      });
      expect(await new ReplicaAck(redis, 'ra3', { minReplicas: 0, timeoutMs: 200 }).confirm('w')).toEqual({
        wanted: 0,
        acked: 0,
      });
      // Told 1 where no replica exists: never confirmed.
      await expect(new ReplicaAck(c, 'ra3', { minReplicas: 1, timeoutMs: 50 }).confirm('w')).rejects.toThrow(
        ReplicationTimeoutError,
      );
    } finally {
      c.disconnect();
      await lone.kill();
    }
  });
});
