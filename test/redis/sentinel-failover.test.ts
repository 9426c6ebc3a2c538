import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisApiKeyRepository } from '@imagegen/access';
import { TERMINAL_STATUSES, type RedisTarget } from '@imagegen/contracts';
import {
  connectRedis,
  Keys,
  RedisJobEvents,
  RedisJobRepository,
  type Redis,
  type RedisClient,
} from '@imagegen/jobs';
import { storageFromEnv } from '@imagegen/storage';

import { serving, until } from '../support/processes.js';
import { startSentinelSet, type SentinelSet } from '../support/redis-topologies.js';
import { freePort } from '../support/redis.js';
import { S3_CREDENTIALS, startS3, type TestS3 } from '../support/s3.js';
import { outputsOf, startService, type ServiceProcess } from '../support/service-processes.js';
import { slowModel } from '../support/slow-model.js';

// A primary, its replica and three sentinels under the whole service (api, two workers, dispatcher as
// their own processes, connected through the sentinels). A client submits steadily while jobs run; the
// primary is SIGKILLed; the sentinels promote the replica. Every submit answered 202 must survive (WAIT
// confirmed it on the replica before the answer), each job must end once, and clients see 503 with
// Retry-After while the primary is gone, never a 500.
const slow = slowModel(40);
let set: SentinelSet | undefined;
let s3: TestS3 | undefined;
let observer: RedisClient | undefined;
let procs: ServiceProcess[] = [];
let base: string;
let key: string;
let env: Record<string, string>;

beforeAll(async () => {
  const sentinels = (set = await startSentinelSet({ downAfterMs: 1000 }));
  const s = (s3 = await startS3());
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    REDIS_SENTINELS: sentinels.addresses,
    REDIS_SENTINEL_NAME: sentinels.name,
    REDIS_PREFIX: `{s${randomUUID().slice(0, 8)}}`,
    REDIS_WAIT_TIMEOUT_MS: '500',
    S3_ENDPOINT: s.server.endpoint,
    S3_ACCESS_KEY: S3_CREDENTIALS.accessKey,
    S3_SECRET_KEY: S3_CREDENTIALS.secretKey,
    S3_BUCKET: `b${randomUUID().slice(0, 8)}`,
    MODEL_DIR: slow.dir,
    UPSCALER: 'lanczos',
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKER_PORT: '0',
    DISPATCHER_PORT: '0',
    // Locks outlive the failover (the default 30 s; see README "Redis in production").
    EXPIRE_INTERVAL_MS: '1000',
    ENQUEUE_GRACE_MS: '2000',
    RATE_LIMIT_PER_MINUTE: '100000',
    CONCURRENCY_LIMIT: '100000',
    LOG_LEVEL: process.env['RH_DEBUG'] ? 'debug' : 'warn',
  };
  const target: RedisTarget = {
    mode: 'sentinel',
    sentinels: sentinels.addresses
      .split(',')
      .map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
    name: sentinels.name,
    sentinelPassword: undefined,
    username: undefined,
    password: undefined,
    tls: false,
  };
  const o = (observer = connectRedis(target, 'worker'));
  o.on('error', () => undefined);
  key = (await new RedisApiKeyRepository(o, env['REDIS_PREFIX']!).create('failover-test')).secret;
  procs = [
    startService('api', env),
    startService('worker', env, { name: 'worker-1' }),
    startService('worker', env, { name: 'worker-2' }),
    startService('dispatcher', env),
  ];
  await serving(`${base}/healthz`, 60_000).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${outputsOf(procs)}`);
  });
}, 120_000);
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  observer?.disconnect();
  await s3?.stop();
  await set?.stop();
  slow.cleanup();
});

interface Answer {
  at: number;
  status: number | 'network';
  retryAfter: string | null;
  id?: string;
}

async function submit(i: number): Promise<Answer> {
  try {
    const r = await fetch(`${base}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: `a blue square number ${i}`, aspect_ratio: '1:1', seed: i }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await r.json()) as { id?: string };
    return {
      at: Date.now(),
      status: r.status,
      retryAfter: r.headers.get('retry-after'),
      ...(r.status === 202 && body.id ? { id: body.id } : {}),
    };
  } catch {
    return { at: Date.now(), status: 'network', retryAfter: null };
  }
}

describe('Sentinel failover: the primary SIGKILLed under submits and running jobs', () => {
  it('answers 503 when no replica confirms a submit in time', async () => {
    set!.replica.process.kill('SIGSTOP');
    try {
      const seen: Answer[] = [];
      await until('a submit refused for want of a replica', async () => {
        const a = await submit(1_000_000);
        seen.push(a);
        return a.status === 503 && a.retryAfter !== null;
      }).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}: ${JSON.stringify(seen.slice(-5))}\n${outputsOf(procs)}`);
      });
    } finally {
      set!.replica.process.kill('SIGCONT');
    }
  });

  it('loses no accepted job, ends each once, and answers errors as 503 with Retry-After', async () => {
    const o = observer!;
    const prefix = env['REDIS_PREFIX']!;
    const jobs = new RedisJobRepository(o, { prefix });
    // A first job running on a worker (they are warm), then the stream starts.
    const first = await submit(0);
    expect(first.status).toBe(202);
    await until('a job running', async () => (await jobs.get(first.id!))?.status === 'processing', 60_000);
    const answers: Answer[] = [first];
    let i = 1;
    let stop = false;
    // One client submitting every 300 ms whatever the answers (a steady stream, not a burst: each job
    // costs the two workers seconds of CPU here).
    const clients = [0].map(async () => {
      while (!stop) {
        const next = Date.now() + 300;
        answers.push(await submit(i++));
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    });
    const accepted = () => answers.filter((a) => a.id).map((a) => a.id!);
    await until('three more submits accepted', () => accepted().length >= 4);
    const oldPort = set!.primary.port;
    const killedAt = Date.now();
    await set!.primary.kill('SIGKILL');
    await until('the sentinels to promote the replica', () => set!.currentPrimaryPort() !== oldPort, 30_000);
    const promotedAfterMs = Date.now() - killedAt;
    await until(
      'submits accepted again for 3 s after the failover',
      () => {
        const after = answers.filter((a) => a.at > killedAt);
        const firstOk = after.find((a) => a.status === 202);
        return (
          firstOk && after.at(-1)!.at - firstOk.at > 3000 && after.filter((a) => a.status === 202).length > 5
        );
      },
      60_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${JSON.stringify(answers.slice(-10))}\n${outputsOf(procs)}`);
    });
    stop = true;
    await Promise.all(clients);

    const ids = accepted();
    const records = await until(
      'every accepted job to reach a terminal state',
      async () => {
        const recs = await Promise.all(ids.map((id) => jobs.get(id)));
        return recs.every((r) => !r || TERMINAL_STATUSES.includes(r.status)) ? recs : null;
      },
      120_000,
    ).catch(async (e: unknown) => {
      const recs = await Promise.all(ids.map((id) => jobs.get(id)));
      throw new Error(
        `${(e as Error).message}: ${JSON.stringify(recs.filter((r) => r && !TERMINAL_STATUSES.includes(r.status)).map((r) => [r!.id, r!.status]))}\n${outputsOf(procs)}`,
      );
    });
    const lost = ids.filter((_, k) => !records[k]);
    const terminal = records.filter((r) => r && TERMINAL_STATUSES.includes(r.status));
    const events = new RedisJobEvents(o, prefix);
    let duplicateEvents = 0;
    for (const id of ids) {
      const n = (await events.read(id)).filter((e) => e.type === 'completed').length;
      if (n > 1) duplicateEvents += n - 1;
    }
    // Every job the primary ever held (accepted or not): their images are the only objects allowed.
    const keys = new Keys(prefix);
    const allImages = new Set<string>();
    let cursor = '0';
    do {
      // Through Sentinel the client is a plain Redis (one primary), so SCAN sees every key.
      const [next, found] = await (o as Redis).scan(cursor, 'MATCH', keys.job('*'), 'COUNT', 1000);
      cursor = next;
      for (const k of found.filter((k) => !k.endsWith(':events'))) {
        const rec = await jobs.get(k.slice(keys.job('').length));
        if (rec?.image) allImages.add(rec.image.key);
      }
    } while (cursor !== '0');
    const objects = await storageFromEnv({
      S3_ENDPOINT: env['S3_ENDPOINT']!,
      S3_ACCESS_KEY: env['S3_ACCESS_KEY']!,
      S3_SECRET_KEY: env['S3_SECRET_KEY']!,
      S3_BUCKET: env['S3_BUCKET']!,
      S3_REGION: 'us-east-1',
      IMAGE_TTL_MS: 3_600_000,
    }).list();
    const strayObjects = objects.filter((x) => !allImages.has(x.key)).length;

    // The longest time a client saw errors: from its first failed answer to the next 202.
    let longestErrorMs = 0;
    let since: number | null = null;
    for (const a of [...answers].sort((x, y) => x.at - y.at)) {
      if (a.status === 202) {
        if (since !== null) longestErrorMs = Math.max(longestErrorMs, a.at - since);
        since = null;
      } else since ??= a.at;
    }
    const failures = answers.filter((a) => a.status !== 202);
    const byStatus: Record<string, number> = {};
    for (const a of failures) byStatus[String(a.status)] = (byStatus[String(a.status)] ?? 0) + 1;
    const withoutRetryAfter = failures.filter((a) => a.status === 503 && a.retryAfter === null).length;
    const figures = {
      submits: answers.length,
      accepted: ids.length,
      acceptedLost: lost.length,
      reachedTerminal: terminal.length,
      succeeded: terminal.filter((r) => r!.status === 'succeeded').length,
      duplicateTerminalEvents: duplicateEvents,
      strayObjects,
      objects: objects.length,
      failedSubmits: byStatus,
      failed503WithoutRetryAfter: withoutRetryAfter,
      longestClientErrorMs: longestErrorMs,
      promotedAfterMs,
    };
    console.log(`sentinel failover figures: ${JSON.stringify(figures)}`);
    expect(figures.acceptedLost).toBe(0);
    expect(figures.reachedTerminal).toBe(ids.length);
    expect(figures.duplicateTerminalEvents).toBe(0);
    expect(figures.strayObjects).toBe(0);
    expect(Object.keys(byStatus).filter((s) => s !== '503')).toEqual([]);
    expect(withoutRetryAfter).toBe(0);
  }, 150_000);
});
