import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisApiKeyRepository } from '@imagegen/access';
import { connectRedis, keySlot, Keys, type RedisClient } from '@imagegen/jobs';

import { serving, until } from '../support/processes.js';
import { redisCli, startCluster, type RedisCluster } from '../support/redis-topologies.js';
import { freePort } from '../support/redis.js';
import { S3_CREDENTIALS, startS3, type TestS3 } from '../support/s3.js';
import { outputsOf, startService, type ServiceProcess } from '../support/service-processes.js';
import { FIXTURE_MODEL } from '../support/stack.js';

// The whole service (api, worker, dispatcher as their own processes) on a Redis Cluster of three
// primaries, given only the seed list: every key and BullMQ queue sits in the prefix's hash slot, and the
// prefix is chosen so that slot is not on the first seed, so the clients must follow the cluster's map.
let cluster: RedisCluster | undefined;
let s3: TestS3 | undefined;
let admin: RedisClient | undefined;
let procs: ServiceProcess[] = [];
let base: string;
let key: string;
let prefix: string;

beforeAll(async () => {
  const c = (cluster = await startCluster(3));
  const s = (s3 = await startS3());
  do prefix = `{c${randomUUID().slice(0, 8)}}`;
  while (c.ownerOf(keySlot(prefix)) === c.nodes[0]);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = {
    REDIS_CLUSTER_NODES: c.seeds.split(',')[0]!,
    REDIS_PREFIX: prefix,
    S3_ENDPOINT: s.server.endpoint,
    S3_ACCESS_KEY: S3_CREDENTIALS.accessKey,
    S3_SECRET_KEY: S3_CREDENTIALS.secretKey,
    S3_BUCKET: `b${randomUUID().slice(0, 8)}`,
    MODEL_DIR: FIXTURE_MODEL,
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKER_PORT: '0',
    DISPATCHER_PORT: '0',
    LOG_LEVEL: 'warn',
  };
  const a = (admin = connectRedis(
    {
      mode: 'cluster',
      nodes: [{ host: '127.0.0.1', port: c.nodes[0]!.port }],
      username: undefined,
      password: undefined,
      tls: false,
    },
    'worker',
  ));
  a.on('error', () => undefined);
  key = (await new RedisApiKeyRepository(a, prefix).create('cluster-test')).secret;
  procs = [startService('api', env), startService('worker', env), startService('dispatcher', env)];
  await serving(`${base}/healthz`, 60_000).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${outputsOf(procs)}`);
  });
}, 120_000);
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  admin?.disconnect();
  await s3?.stop();
  await cluster?.stop();
});

describe('the service on a 3-primary Redis Cluster', () => {
  it('runs submit → succeeded with an image, every key in the prefix’s slot on its owner', async () => {
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const submitted = await fetch(`${base}/v1/images/generations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ prompt: 'a red circle on a cluster', aspect_ratio: '1:1', seed: 7 }),
    });
    expect(submitted.status, outputsOf(procs)).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const job = await until(
      'the job to succeed',
      async () => {
        const r = await fetch(`${base}/v1/images/generations/${id}?wait=20`, { headers });
        const j = (await r.json()) as { status: string; image_url?: string };
        if (['failed', 'canceled', 'expired', 'moderated'].includes(j.status))
          throw new Error(`job ended ${JSON.stringify(j)}\n${outputsOf(procs)}`);
        return j.status === 'succeeded' ? j : null;
      },
      90_000,
    );
    const image = await fetch(job.image_url!);
    expect(image.status).toBe(200);
    const bytes = Buffer.from(await image.arrayBuffer());
    expect(bytes.subarray(0, 3).toString('hex')).toBe('ffd8ff'); // JPEG

    // One terminal event, on the node that owns the slot; the other primaries hold no key at all.
    const slot = keySlot(prefix);
    const c = cluster!;
    const owner = c.ownerOf(slot);
    const events = redisCli(owner.port, 'xrange', new Keys(prefix).events(id), '-', '+');
    expect(events.split('\n').filter((l) => l === 'completed')).toHaveLength(1);
    const keysInSlot = Number(redisCli(owner.port, 'cluster', 'countkeysinslot', String(slot)));
    expect(keysInSlot).toBeGreaterThan(5);
    expect(Number(redisCli(owner.port, 'dbsize'))).toBe(keysInSlot);
    for (const n of c.nodes.filter((n) => n !== owner)) expect(Number(redisCli(n.port, 'dbsize'))).toBe(0);
  });
});
