import { decodeJobRecord, type JobRecord } from '@imagegen/contracts';
import type { Cluster, Redis } from 'ioredis';

import { LIST_SCAN_MAX, type JobPage, type ListOptions } from './job-repository.js';
import type { Keys } from './keys.js';
import { redisCall } from './redis.js';

/**
 * Reads of the job indexes that are not single commands: a key's job list (its per-key sorted set, read
 * newest first with the records it names) and the members of a time-scored index older than some age by
 * Redis's clock (enqueue intents, running jobs).
 */

/** A key's retained jobs, newest first (see JobRepository.listForKey). */
export async function listKeyJobs(
  redis: Redis | Cluster,
  keys: Keys,
  keyId: string,
  options: ListOptions,
): Promise<JobPage> {
  const index = keys.keyJobs(keyId);
  const batch = Math.max(options.limit * 2, 50);
  const records: JobRecord[] = [];
  const purged: string[] = [];
  let before = options.beforeSeq ?? Number.POSITIVE_INFINITY;
  let scanned = 0;
  let next: number | null = null;
  for (;;) {
    const upper = Number.isFinite(before) ? `(${before}` : '+inf';
    const flat = await redisCall(() =>
      redis.zrevrangebyscore(index, upper, '-inf', 'WITHSCORES', 'LIMIT', 0, batch),
    );
    const ids: [string, number][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) ids.push([flat[i]!, Number(flat[i + 1])]);
    const hashes = await redisCall(async () => {
      const pipeline = redis.pipeline();
      for (const [id] of ids) pipeline.hgetall(keys.job(id));
      return (await pipeline.exec()) ?? [];
    });
    let full = false;
    for (const [i, [id, seq]] of ids.entries()) {
      before = seq;
      scanned++;
      const record = decodeJobRecord((hashes[i]?.[1] ?? {}) as Record<string, string>);
      if (!record) purged.push(id);
      else if (!options.statuses || options.statuses.includes(record.status)) records.push(record);
      if (records.length === options.limit) {
        full = true;
        break;
      }
    }
    if (full || scanned >= LIST_SCAN_MAX) {
      next = before;
      break;
    }
    if (ids.length < batch) break;
  }
  // Records past their retention are gone: drop their index entries as we meet them.
  if (purged.length > 0) await redisCall(() => redis.zrem(index, ...purged));
  return { records, nextBeforeSeq: next };
}

/** Members of a sorted set scored by Redis-clock milliseconds that are older than `olderThanMs`. */
export async function olderThan(
  redis: Redis | Cluster,
  key: string,
  olderThanMs: number,
  limit: number,
): Promise<string[]> {
  const [seconds, micros] = await redisCall(() => redis.time());
  const before = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - olderThanMs;
  return redisCall(() => redis.zrangebyscore(key, '-inf', `(${before}`, 'LIMIT', 0, limit));
}
