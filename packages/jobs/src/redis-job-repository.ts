import {
  decodeJobRecord,
  encodeNewJob,
  encodeOutcome,
  ENGINE_CRASHES_FIELD,
  JOB_STATUSES,
  REVISED_PROMPT_FIELD,
  SHUTDOWN_ABANDONS_FIELD,
  type JobOutcomeFields,
  type JobRecord,
  type JobStage,
  type JobStatus,
  type NewJobRecord,
} from '@imagegen/contracts';
import type { Cluster, Redis } from 'ioredis';

import { Commands, type CommandObserver } from './commands.js';
import {
  EXPIRED_ERROR,
  KEY_JOBS_INDEX_MAX,
  type FinishOutcome,
  type JobPage,
  type ListOptions,
  type IdempotencyClaim,
  type JobRepository,
  type StartOutcome,
  type SubmitLimits,
  type SubmitOutcome,
  type TerminalStatus,
  type WebhookAttempt,
} from './job-repository.js';
import { Keys } from './keys.js';
import { redisCall } from './redis.js';
import { listKeyJobs, olderThan } from './redis-indexes.js';

const asStatus = (s: string): JobStatus => {
  if (!(JOB_STATUSES as readonly string[]).includes(s)) throw new Error(`unknown job status ${s}`);
  return s as JobStatus;
};

/** The job records in Redis: the single source of truth for what clients read. */
export class RedisJobRepository implements JobRepository {
  readonly keys: Keys;
  private readonly commands: Commands;
  private readonly retentionSeconds: number;

  constructor(
    private readonly redis: Redis | Cluster,
    options: {
      prefix: string;
      /** How long finished job records and their events stay readable. Default 86,400 (24 h). */
      retentionSeconds?: number;
      /** Sees every command call (tests: which commands ran, with which keys). */
      observe?: CommandObserver;
    },
  ) {
    this.keys = new Keys(options.prefix);
    this.commands = new Commands(redis, options.observe);
    this.retentionSeconds = options.retentionSeconds ?? 86_400;
  }

  async submit(
    job: NewJobRecord,
    limits: SubmitLimits,
    idempotency: IdempotencyClaim | null,
  ): Promise<SubmitOutcome> {
    const k = this.keys;
    const r = await this.commands.run(
      'submit',
      {
        job: k.job(job.id),
        events: k.events(job.id),
        waiting: k.waiting(),
        seq: k.seq(),
        unfinished: k.unfinished(job.keyId),
        idempotency: idempotency ? k.idempotency(job.keyId, idempotency.keyDigest) : k.none(),
        outbox: k.webhookOutbox(),
        intents: k.enqueueIntents(),
        keyJobs: k.keyJobs(job.keyId),
      },
      {
        id: job.id,
        keyJobsMax: KEY_JOBS_INDEX_MAX,
        fields: JSON.stringify(encodeNewJob(job)),
        concurrency: limits.concurrency,
        idempotencyValue: idempotency ? `${idempotency.bodyDigest}|${job.id}` : '',
        idempotencyTtlS: idempotency?.ttlSeconds ?? 0,
        queueBound: limits.queueBound,
        channel: k.eventsChannel(),
      },
    );
    switch (r[0]) {
      case 'created':
        return { kind: 'created', seq: r[1] };
      case 'idempotent': {
        const [bodyDigest = '', jobId = ''] = r[1].split('|');
        return { kind: 'replayed', jobId, bodyDigest };
      }
      case 'queue_full':
        return { kind: 'queue_full' };
      case 'concurrency':
        return { kind: 'concurrency', unfinished: r[1] };
    }
  }

  async get(id: string): Promise<JobRecord | null> {
    return decodeJobRecord(await redisCall(() => this.redis.hgetall(this.keys.job(id))));
  }

  listForKey(keyId: string, options: ListOptions): Promise<JobPage> {
    return listKeyJobs(this.redis, this.keys, keyId, options);
  }

  queuePosition(id: string): Promise<number | null> {
    return redisCall(() => this.redis.zrank(this.keys.waiting(), id));
  }

  waitingCount(): Promise<number> {
    return redisCall(() => this.redis.zcard(this.keys.waiting()));
  }

  async oldestQueuedAt(): Promise<number | null> {
    const [id] = await redisCall(() => this.redis.zrange(this.keys.waiting(), 0, 0));
    if (id === undefined) return null;
    const created = await redisCall(() => this.redis.hget(this.keys.job(id), 'created_at'));
    return created === null ? null : Number(created);
  }

  async start(id: string, attempt: number, worker: string, now = Date.now()): Promise<StartOutcome> {
    const k = this.keys;
    const r = await this.commands.run(
      'start',
      {
        job: k.job(id),
        events: k.events(id),
        waiting: k.waiting(),
        outbox: k.webhookOutbox(),
        intents: k.enqueueIntents(),
        running: k.running(),
      },
      { id, attempt, now, worker, channel: k.eventsChannel() },
    );
    switch (r[0]) {
      case 'started':
        return { kind: 'started' };
      case 'missing':
        return { kind: 'missing' };
      case 'cancel':
        return { kind: 'cancel_requested' };
      case 'settled':
        return { kind: 'settled', status: asStatus(r[1]) };
    }
  }

  async progress(
    id: string,
    stage: JobStage,
    step: number | null,
    total: number | null,
    progress: number,
  ): Promise<void> {
    const k = this.keys;
    await this.commands.run(
      'progress',
      { job: k.job(id), events: k.events(id), outbox: k.webhookOutbox() },
      {
        id,
        stage,
        step: step ?? '',
        total: total ?? '',
        progress: progress.toFixed(4),
        now: Date.now(),
        channel: k.eventsChannel(),
      },
    );
  }

  async finish(
    id: string,
    keyId: string,
    status: TerminalStatus,
    data: JobOutcomeFields,
    options: { onlyFrom?: 'queued' | 'processing'; now?: number } = {},
  ): Promise<FinishOutcome> {
    const k = this.keys;
    const r = await this.commands.run(
      'finish',
      {
        job: k.job(id),
        events: k.events(id),
        waiting: k.waiting(),
        unfinished: k.unfinished(keyId),
        outbox: k.webhookOutbox(),
        intents: k.enqueueIntents(),
        running: k.running(),
      },
      {
        id,
        status,
        fields: JSON.stringify(encodeOutcome(data)),
        retentionS: this.retentionSeconds,
        now: options.now ?? Date.now(),
        onlyFrom: options.onlyFrom ?? '',
        channel: k.eventsChannel(),
      },
    );
    switch (r[0]) {
      case 'done':
        return { kind: 'done' };
      case 'settled':
        return { kind: 'settled', status: asStatus(r[1]) };
      case 'missing':
        return { kind: 'missing' };
    }
  }

  async setRevisedPrompt(id: string, prompt: string): Promise<void> {
    await this.commands.run(
      'setFields',
      { job: this.keys.job(id) },
      { fields: JSON.stringify({ [REVISED_PROMPT_FIELD]: prompt }), counters: '{}' },
    );
  }

  async countEngineCrash(id: string): Promise<void> {
    await this.commands.run(
      'setFields',
      { job: this.keys.job(id) },
      { fields: '{}', counters: JSON.stringify({ [ENGINE_CRASHES_FIELD]: 1 }) },
    );
  }

  async countShutdownAbandon(id: string): Promise<void> {
    await this.commands.run(
      'setFields',
      { job: this.keys.job(id) },
      { fields: '{}', counters: JSON.stringify({ [SHUTDOWN_ABANDONS_FIELD]: 1 }) },
    );
  }

  async requestCancel(id: string): Promise<JobStatus | 'missing'> {
    const r = await this.commands.run(
      'requestCancel',
      { job: this.keys.job(id) },
      { id, channel: this.keys.cancelChannel() },
    );
    return r === 'missing' ? 'missing' : asStatus(r);
  }

  async recordWebhookAttempt(id: string, attempt: WebhookAttempt): Promise<void> {
    await this.commands.run(
      'webhookAttempt',
      { job: this.keys.job(id) },
      {
        terminal: attempt.terminal ? '1' : '0',
        status: attempt.status,
        at: attempt.at,
        lastError: attempt.error ?? '',
        deliveredAt: attempt.deliveredAt ?? '',
      },
    );
  }

  async expireOverdue(now = Date.now(), limit = 500): Promise<{ id: string; keyId: string }[]> {
    const ids = await redisCall(() => this.redis.zrange(this.keys.waiting(), 0, limit - 1));
    if (ids.length === 0) return [];
    const rows = await redisCall(async () => {
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hmget(this.keys.job(id), 'deadline_at', 'key_id');
      return (await pipeline.exec()) ?? [];
    });
    const expired: { id: string; keyId: string }[] = [];
    for (const [i, id] of ids.entries()) {
      const [deadline, keyId] = (rows[i]?.[1] ?? []) as (string | null)[];
      if (!deadline || !keyId || Number(deadline) >= now) continue;
      const r = await this.finish(
        id,
        keyId,
        'expired',
        { error: EXPIRED_ERROR },
        { onlyFrom: 'queued', now },
      );
      if (r.kind === 'done') expired.push({ id, keyId });
    }
    return expired;
  }

  enqueueIntents(olderThanMs: number, limit = 500): Promise<string[]> {
    return olderThan(this.redis, this.keys.enqueueIntents(), olderThanMs, limit);
  }

  async runningSince(olderThanMs: number, limit = 500): Promise<{ id: string; keyId: string }[]> {
    const out: { id: string; keyId: string }[] = [];
    for (const id of await olderThan(this.redis, this.keys.running(), olderThanMs, limit)) {
      const [status, keyId] = await redisCall(() => this.redis.hmget(this.keys.job(id), 'status', 'key_id'));
      if (status === 'processing' && keyId) out.push({ id, keyId });
      // Purged or settled without the index noticing (it never should): forget it.
      else if (status !== 'processing') await redisCall(() => this.redis.zrem(this.keys.running(), id));
    }
    return out;
  }

  async clearEnqueueIntent(id: string): Promise<void> {
    await redisCall(() => this.redis.zrem(this.keys.enqueueIntents(), id));
  }
}
