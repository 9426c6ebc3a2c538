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
  PRIORITY_LIMIT,
  type FinishOutcome,
  type GatedSubmit,
  type GatedSubmitOutcome,
  type ReleasedJob,
  type ResultCacheClaim,
  type SubmitOptions,
  type SubmitGate,
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
import { settleAttached, type CopyImage } from './result-reuse.js';

/** A job record from a command's flat HGETALL reply. */
function recordFrom(flat: string[]): JobRecord {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  const record = decodeJobRecord(h);
  if (!record) throw new Error('the submit command returned no job record');
  return record;
}

const asStatus = (s: string): JobStatus => {
  if (!(JOB_STATUSES as readonly string[]).includes(s)) throw new Error(`unknown job status ${s}`);
  return s as JobStatus;
};

/** The job records in Redis: the single source of truth for what clients read. */
export class RedisJobRepository implements JobRepository, GatedSubmit {
  readonly keys: Keys;
  private readonly commands: Commands;
  private readonly retentionSeconds: number;
  private readonly retainedPerKey: number;

  constructor(
    private readonly redis: Redis | Cluster,
    options: {
      prefix: string;
      /** How long finished job records and their events stay readable. Default 86,400 (24 h). */
      retentionSeconds?: number;
      /**
       * Jobs one key retains: past it, its oldest finished jobs are purged at its next submit. Default
       * KEY_JOBS_INDEX_MAX.
       */
      retainedJobsPerKey?: number;
      /** Sees every command call (tests: which commands ran, with which keys). */
      observe?: CommandObserver;
      /**
       * Enqueues a held job that a finish released (its enqueue intent is cleared once this resolves;
       * when it fails or is absent, the dispatcher enqueues the intent after its grace).
       */
      enqueueReleased?: (job: ReleasedJob) => Promise<void>;
      /**
       * Copies a stored image server-side (the worker's object store): a success's attached jobs are
       * completed from copies of its image. Absent: they are enqueued to generate on their own.
       */
      copyImage?: CopyImage;
    },
  ) {
    this.keys = new Keys(options.prefix);
    this.commands = new Commands(redis, options.observe);
    this.retentionSeconds = options.retentionSeconds ?? 86_400;
    this.retainedPerKey = options.retainedJobsPerKey ?? KEY_JOBS_INDEX_MAX;
    this.enqueueReleased = options.enqueueReleased;
    this.copyImage = options.copyImage;
  }

  private readonly enqueueReleased: ((job: ReleasedJob) => Promise<void>) | undefined;
  private readonly copyImage: CopyImage | undefined;

  async submit(
    job: NewJobRecord,
    limits: SubmitLimits,
    idempotency: IdempotencyClaim | null,
    options: SubmitOptions = {},
  ): Promise<SubmitOutcome> {
    const outcome = await this.runSubmit(job, limits, idempotency, null, options.cache ?? null);
    if (!('rate' in outcome)) throw new Error(`an ungated submit cannot be ${outcome.kind}`);
    const { rate: _rate, ...rest } = outcome;
    return rest;
  }

  async submitGated(
    job: NewJobRecord,
    limits: SubmitLimits,
    idempotency: IdempotencyClaim | null,
    gate: SubmitGate,
    options: SubmitOptions = {},
  ): Promise<GatedSubmitOutcome> {
    return this.runSubmit(job, limits, idempotency, gate, options.cache ?? null);
  }

  private async runSubmit(
    job: NewJobRecord,
    limits: SubmitLimits,
    idempotency: IdempotencyClaim | null,
    gate: SubmitGate | null,
    cache: ResultCacheClaim | null,
  ): Promise<GatedSubmitOutcome> {
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
        apiKey: k.apiKey(job.keyId),
        fair: k.fair(),
        held: k.held(job.keyId),
        writeBucket: gate ? k.rate(gate.writeBucket) : k.none(),
        authBucket: gate ? k.rate(gate.authBucket) : k.none(),
        resultCache: cache ? k.resultCache(job.keyId, cache.digest) : k.none(),
        deadlines: k.deadlines(),
      },
      {
        id: job.id,
        keyJobsMax: this.retainedPerKey,
        fields: JSON.stringify(encodeNewJob(job)),
        concurrency: limits.concurrency,
        idempotencyValue: idempotency ? `${idempotency.bodyDigest}|${job.id}` : '',
        idempotencyTtlS: idempotency?.ttlSeconds ?? 0,
        queueBound: limits.queueBound,
        channel: k.eventsChannel(),
        keyId: job.keyId,
        secretHash: gate?.secretHash ?? '',
        writeCapacity: gate?.writePerMinute ?? 0,
        authCapacity: gate?.authFailuresPerMinute ?? 0,
        priorityLimit: PRIORITY_LIMIT,
        queueDeadlineMs: job.deadlineAt - job.createdAt,
        clearIntents: gate?.takeIntents?.().join(' ') ?? '',
        cacheMode: cache ? (cache.lookup ? 'lookup' : 'refresh') : '',
        cacheTtlS: cache?.ttlSeconds ?? 0,
        objectTtlMs: cache?.objectTtlMs ?? 0,
        minLifeMs: cache?.minLifeMs ?? 0,
      },
    );
    const rate = { remaining: r[1], retryAfterMs: r[2] };
    switch (r[0]) {
      case 'created':
      case 'cached': {
        const created = { seq: r[3], priority: r[4], record: recordFrom(r[5]), position: r[6], rate };
        return r[0] === 'created'
          ? { kind: 'created', ...created }
          : { kind: 'cached', ...created, source: recordFrom(r[7]) };
      }
      case 'held':
        return { kind: 'held', seq: r[3], record: recordFrom(r[4]), rate };
      case 'attached':
        return { kind: 'attached', seq: r[3], record: recordFrom(r[4]), to: r[5], rate };
      case 'idempotent': {
        const [bodyDigest = '', jobId = ''] = r[3].split('|');
        return { kind: 'replayed', jobId, bodyDigest, rate };
      }
      case 'queue_full':
        return { kind: 'queue_full', rate };
      case 'concurrency':
        return { kind: 'concurrency', unfinished: r[3], rate };
      case 'unauthorized':
        return { kind: 'unauthorized' };
      case 'auth_budget':
        return { kind: 'auth_budget', retryAfterMs: r[2] };
      case 'rate_limited':
        return { kind: 'rate_limited', retryAfterMs: r[2] };
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
        deadlines: k.deadlines(),
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
        held: k.held(keyId),
        fair: k.fair(),
        apiKey: k.apiKey(keyId),
        attached: k.attached(id),
        deadlines: k.deadlines(),
      },
      {
        id,
        status,
        fields: JSON.stringify(encodeOutcome(data)),
        retentionS: this.retentionSeconds,
        now: options.now ?? Date.now(),
        onlyFrom: options.onlyFrom ?? '',
        channel: k.eventsChannel(),
        jobKeyPrefix: k.job(''),
        keyId,
        priorityLimit: PRIORITY_LIMIT,
      },
    );
    switch (r[0]) {
      case 'done': {
        const released = r[2] ? { id: r[2], keyId, objectKey: r[4], priority: r[3] } : null;
        if (released && this.enqueueReleased) {
          await this.enqueueReleased(released)
            .then(() => this.clearEnqueueIntent(released.id))
            .catch(() => undefined); // the intent stays: the dispatcher enqueues it
        }
        const attached: ReleasedJob[] = [];
        for (let i = 0; i + 2 < r[5].length; i += 3) {
          attached.push({ id: r[5][i]!, keyId, priority: Number(r[5][i + 1]), objectKey: r[5][i + 2]! });
        }
        if (attached.length > 0) {
          await settleAttached(this, attached, status, data, {
            copyImage: this.copyImage,
            enqueueReleased: this.enqueueReleased,
          });
        }
        return { kind: 'done', released, attached };
      }
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
    const deadlines = this.keys.deadlines();
    // The most overdue first, by the deadline index (the waiting set is in fair order, not by age).
    const ids = await redisCall(() =>
      this.redis.zrangebyscore(deadlines, '-inf', `(${now}`, 'LIMIT', 0, limit),
    );
    const expired: { id: string; keyId: string }[] = [];
    for (const id of ids) {
      const keyId = await redisCall(() => this.redis.hget(this.keys.job(id), 'key_id'));
      const r = keyId
        ? await this.finish(id, keyId, 'expired', { error: EXPIRED_ERROR }, { onlyFrom: 'queued', now })
        : null;
      if (r?.kind === 'done') expired.push({ id, keyId: keyId! });
      // Gone, or no longer waiting without the index noticing (it never should): forget it.
      else await redisCall(() => this.redis.zrem(deadlines, id));
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

  async clearEnqueueIntent(...ids: string[]): Promise<void> {
    if (ids.length > 0) await redisCall(() => this.redis.zrem(this.keys.enqueueIntents(), ...ids));
  }
}
