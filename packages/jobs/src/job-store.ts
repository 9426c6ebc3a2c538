import { hostname } from 'node:os';

import type { Redis } from 'ioredis';

import type { JobInput, JobStage, JobStatus } from '@imagegen/contracts';

import { Keys } from './keys.js';
import {
  FINISH,
  PROGRESS,
  REQUEST_CANCEL,
  START,
  SUBMIT,
  TOKEN_BUCKET,
  UNSUBMIT,
  WEBHOOK_ATTEMPT,
} from './scripts.js';

/** What the worker stores about the image once it is uploaded. */
export interface JobImage {
  key: string;
  bytes: number;
  width: number;
  height: number;
  format: 'jpeg' | 'png';
  revised_prompt: string | null;
}

export interface JobFailure {
  code: string;
  message: string;
  retryable: boolean;
}

/** The error of a job that waited past its queue deadline. */
export const EXPIRED_ERROR: JobFailure = {
  code: 'expired',
  message: 'the job waited longer than the queue deadline; submit it again',
  retryable: true,
};

/** Events a job's webhook may subscribe to (`completed` = the terminal event, whatever the outcome). */
export type WebhookEventKind = 'queued' | 'started' | 'progress' | 'completed';

export interface JobWebhook {
  url: string;
  events: WebhookEventKind[];
}

/** The delivery log shown on the job. */
export interface WebhookDeliveryState {
  status: 'pending' | 'delivered' | 'retrying' | 'failed';
  attempts: number;
  lastError: string | null;
  lastAttemptAt: number | null;
  deliveredAt: number | null;
}

/** What the prompt stage found; stored as given (the prompt package owns the shapes). */
export interface PromptInsights {
  analysis: Record<string, unknown> | null;
  warnings: { code: string; message: string }[];
}

export interface JobModeration {
  stage: 'input' | 'output';
  category: string | null;
}

/** A job record as stored in Redis, decoded. */
export interface JobRecord {
  id: string;
  keyId: string;
  status: JobStatus;
  stage: JobStage | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  progress: number;
  attempt: number;
  seq: number;
  input: JobInput;
  metadata: Record<string, unknown>;
  image: JobImage | null;
  error: JobFailure | null;
  timings: Record<string, number>;
  requestId: string;
  cancelRequested: boolean;
  /** host:pid of the worker that last started the job. */
  worker: string | null;
  /** Latest moment a worker may start the job; later it ends as `expired`. */
  deadlineAt: number;
  webhook: JobWebhook | null;
  webhookState: WebhookDeliveryState | null;
  analysis: Record<string, unknown> | null;
  warnings: { code: string; message: string }[];
  /** The prompt actually generated when prompt_upsampling rewrote it. */
  revisedPrompt: string | null;
  moderation: JobModeration | null;
}

export interface NewJob {
  id: string;
  keyId: string;
  input: JobInput;
  metadata: Record<string, unknown>;
  requestId: string;
  createdAt: number;
  deadlineAt: number;
  webhook?: JobWebhook | null;
  insights?: PromptInsights;
}

export type SubmitOutcome =
  | { kind: 'created'; seq: number }
  | { kind: 'idempotent'; jobId: string; bodyDigest: string }
  | { kind: 'queue_full' }
  | { kind: 'concurrency'; active: number };

export type FinishOutcome = { kind: 'done' } | { kind: 'already'; status: JobStatus } | { kind: 'missing' };

export interface JobEventEntry {
  id: string;
  type: 'queued' | 'started' | 'progress' | 'completed';
  fields: Record<string, string>;
}

type Scripted = Redis & Record<string, (...args: (string | number)[]) => Promise<unknown>>;

const SCRIPTS = {
  igSubmit: [7, SUBMIT],
  igUnsubmit: [5, UNSUBMIT],
  igStart: [4, START],
  igProgress: [3, PROGRESS],
  igFinish: [5, FINISH],
  igWebhookAttempt: [1, WEBHOOK_ATTEMPT],
  igRequestCancel: [1, REQUEST_CANCEL],
  igTokenBucket: [1, TOKEN_BUCKET],
} as const;

function parseJson<T>(value: string | undefined, fallback: T): T {
  if (value === undefined || value === '') return fallback;
  return JSON.parse(value) as T;
}

const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));

/**
 * Job records, their event streams, the waiting set (queue positions) and per-key counters in Redis.
 * The single source of truth for what clients read; BullMQ only carries the work.
 */
export class JobStore {
  readonly keys: Keys;
  private readonly redis: Scripted;

  constructor(
    redis: Redis,
    prefix = 'imagegen',
    /** How long finished job records stay readable. Default 24 h. */
    readonly retentionSeconds = 86_400,
  ) {
    this.keys = new Keys(prefix);
    for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
    this.redis = redis as Scripted;
  }

  /**
   * Creates a queued job atomically with its checks: idempotency replay, global queue bound, per-key
   * concurrency. `idempotency` is (key digest, body digest).
   */
  async submit(
    job: NewJob,
    limits: { concurrency: number; queueBound: number },
    idempotency: { keyDigest: string; bodyDigest: string; ttlSeconds: number } | null,
  ): Promise<SubmitOutcome> {
    const k = this.keys;
    const fields: Record<string, string> = {
      id: job.id,
      key_id: job.keyId,
      created_at: String(job.createdAt),
      deadline_at: String(job.deadlineAt),
      attempt: '0',
      progress: '0',
      input: JSON.stringify(job.input),
      metadata: JSON.stringify(job.metadata),
      request_id: job.requestId,
    };
    if (job.webhook) {
      fields['webhook'] = JSON.stringify(job.webhook);
      fields['wh_events'] = `,${job.webhook.events.join(',')},`;
      fields['wh_status'] = 'pending';
      fields['wh_attempts'] = '0';
    }
    if (job.insights) {
      fields['analysis'] = JSON.stringify(job.insights.analysis);
      fields['warnings'] = JSON.stringify(job.insights.warnings);
    }
    const idemKey = idempotency ? k.idempotency(job.keyId, idempotency.keyDigest) : `${k.prefix}:idem:none`;
    const r = (await this.redis['igSubmit']!(
      k.job(job.id),
      k.events(job.id),
      k.waiting(),
      k.seq(),
      k.active(job.keyId),
      idemKey,
      k.webhookOutbox(),
      job.id,
      JSON.stringify(fields),
      limits.concurrency,
      idempotency ? `${idempotency.bodyDigest}|${job.id}` : '',
      idempotency?.ttlSeconds ?? 0,
      limits.queueBound,
    )) as [string, string | number, string?];
    switch (r[0]) {
      case 'created':
        await this.publish(job.id, String(r[2]));
        return { kind: 'created', seq: Number(r[1]) };
      case 'idempotent': {
        const [bodyDigest = '', jobId = ''] = String(r[1]).split('|');
        return { kind: 'idempotent', jobId, bodyDigest };
      }
      case 'queue_full':
        return { kind: 'queue_full' };
      default:
        return { kind: 'concurrency', active: Number(r[1]) };
    }
  }

  /** Removes a job whose enqueue failed (the client got an error, so no one knows its id). */
  async unsubmit(job: { id: string; keyId: string }, idempotencyKeyDigest: string | null): Promise<void> {
    const k = this.keys;
    await this.redis['igUnsubmit']!(
      k.job(job.id),
      k.events(job.id),
      k.waiting(),
      k.active(job.keyId),
      idempotencyKeyDigest ? k.idempotency(job.keyId, idempotencyKeyDigest) : `${k.prefix}:idem:none`,
      job.id,
    );
  }

  async get(id: string): Promise<JobRecord | null> {
    const h = await this.redis.hgetall(this.keys.job(id));
    if (!h['id'] || !h['status']) return null;
    return {
      id: h['id'],
      keyId: h['key_id'] ?? '',
      status: h['status'] as JobStatus,
      stage: (h['stage'] || null) as JobStage | null,
      createdAt: Number(h['created_at']),
      startedAt: num(h['started_at']),
      completedAt: num(h['completed_at']),
      progress: Number(h['progress'] ?? 0),
      attempt: Number(h['attempt'] ?? 0),
      seq: Number(h['seq'] ?? 0),
      input: parseJson<JobInput>(h['input'], {} as JobInput),
      metadata: parseJson(h['metadata'], {}),
      image: parseJson<JobImage | null>(h['image'], null),
      error: parseJson<JobFailure | null>(h['error'], null),
      timings: parseJson(h['timings'], {}),
      requestId: h['request_id'] ?? '',
      cancelRequested: h['cancel_requested'] === '1',
      worker: h['worker'] ?? null,
      deadlineAt: Number(h['deadline_at'] ?? 0),
      webhook: parseJson<JobWebhook | null>(h['webhook'], null),
      webhookState: h['wh_status']
        ? {
            status: h['wh_status'] as WebhookDeliveryState['status'],
            attempts: Number(h['wh_attempts'] ?? 0),
            lastError: h['wh_last_error'] || null,
            lastAttemptAt: num(h['wh_last_attempt_at']),
            deliveredAt: num(h['wh_delivered_at']),
          }
        : null,
      analysis: parseJson<Record<string, unknown> | null>(h['analysis'], null),
      warnings: parseJson<{ code: string; message: string }[]>(h['warnings'], []),
      revisedPrompt: h['revised_prompt'] ?? null,
      moderation: parseJson<JobModeration | null>(h['moderation'], null),
    };
  }

  /** 0-based position among waiting jobs (O(log n)), or null when the job is not waiting. */
  async queuePosition(id: string): Promise<number | null> {
    return this.redis.zrank(this.keys.waiting(), id);
  }

  async waitingCount(): Promise<number> {
    return this.redis.zcard(this.keys.waiting());
  }

  /** A worker starts (or restarts, after a crash) the job. */
  async start(
    id: string,
    attempt: number,
    worker = `${hostname()}:${process.pid}`,
    now = Date.now(),
  ): Promise<'started' | 'missing' | 'cancel' | JobStatus> {
    const k = this.keys;
    const r = (await this.redis['igStart']!(
      k.job(id),
      k.events(id),
      k.waiting(),
      k.webhookOutbox(),
      id,
      attempt,
      now,
      worker,
    )) as [string, string] | string;
    if (Array.isArray(r)) {
      await this.publish(id, r[1]);
      return 'started';
    }
    return r as 'missing' | 'cancel' | JobStatus;
  }

  async progress(
    id: string,
    stage: JobStage,
    step: number | null,
    total: number | null,
    progress: number,
  ): Promise<void> {
    const k = this.keys;
    const ev = (await this.redis['igProgress']!(
      k.job(id),
      k.events(id),
      k.webhookOutbox(),
      stage,
      step ?? '',
      total ?? '',
      progress.toFixed(4),
      id,
      Date.now(),
    )) as string | number;
    if (typeof ev === 'string') await this.publish(id, ev);
  }

  /** Ends the job with a terminal status, exactly once; later calls report what it already is. */
  async finish(
    id: string,
    keyId: string,
    status: Exclude<JobStatus, 'queued' | 'processing'>,
    data: {
      image?: JobImage;
      error?: JobFailure;
      timings?: Record<string, number>;
      revisedPrompt?: string;
      moderation?: JobModeration;
    },
    options: { onlyFrom?: 'queued' | 'processing'; now?: number } = {},
  ): Promise<FinishOutcome> {
    const k = this.keys;
    const fields: Record<string, string> = {};
    if (data.image) fields['image'] = JSON.stringify(data.image);
    if (data.error) fields['error'] = JSON.stringify(data.error);
    if (data.timings) fields['timings'] = JSON.stringify(data.timings);
    if (data.revisedPrompt !== undefined) fields['revised_prompt'] = data.revisedPrompt;
    if (data.moderation) fields['moderation'] = JSON.stringify(data.moderation);
    const r = (await this.redis['igFinish']!(
      k.job(id),
      k.events(id),
      k.waiting(),
      k.active(keyId),
      k.webhookOutbox(),
      id,
      status,
      JSON.stringify(fields),
      this.retentionSeconds,
      options.now ?? Date.now(),
      options.onlyFrom ?? '',
    )) as [string, string?];
    if (r[0] === 'done') {
      await this.publish(id, r[1]!);
      return { kind: 'done' };
    }
    if (r[0] === 'already') return { kind: 'already', status: r[1] as JobStatus };
    return { kind: 'missing' };
  }

  /** Stores the prompt the worker generates from (prompt_upsampling), before generation starts. */
  async setRevisedPrompt(id: string, prompt: string): Promise<void> {
    await this.redis.hset(this.keys.job(id), 'revised_prompt', prompt);
  }

  /** Logs one webhook delivery attempt on the job (a no-op once the record is purged). */
  async recordWebhookAttempt(
    id: string,
    attempt: {
      terminal: boolean;
      status: WebhookDeliveryState['status'];
      error: string | null;
      at: number;
      deliveredAt: number | null;
    },
  ): Promise<void> {
    await this.redis['igWebhookAttempt']!(
      this.keys.job(id),
      attempt.terminal ? '1' : '0',
      attempt.status,
      attempt.at,
      attempt.error ?? '',
      attempt.deliveredAt ?? '',
    );
  }

  /**
   * Ends as `expired` the waiting jobs whose queue deadline has passed, oldest first, at most `limit` per
   * call; returns them. Workers expire a job they reach too late; this catches the ones no worker reaches
   * (no workers running, a stuck pool), so their clients still hear a terminal state.
   */
  async expireOverdue(now = Date.now(), limit = 500): Promise<{ id: string; keyId: string }[]> {
    const ids = await this.redis.zrange(this.keys.waiting(), 0, limit - 1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.job(id), 'deadline_at', 'key_id');
    const rows = (await pipeline.exec()) ?? [];
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

  /** Flags a running job for cancellation and tells every worker; returns the status it had. */
  async requestCancel(id: string): Promise<JobStatus | 'missing'> {
    const status = (await this.redis['igRequestCancel']!(this.keys.job(id))) as JobStatus | 'missing';
    if (status === 'processing') await this.redis.publish(this.keys.cancelChannel(), id);
    return status;
  }

  /** Events of a job after `afterId` ('0' for all), oldest first. */
  async events(id: string, afterId = '0'): Promise<JobEventEntry[]> {
    const start = afterId === '0' ? '-' : `(${afterId}`;
    const rows = await this.redis.xrange(this.keys.events(id), start, '+');
    return rows.map(([eid, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return { id: eid, type: fields['type'] as JobEventEntry['type'], fields };
    });
  }

  private async publish(jobId: string, eventId: string): Promise<void> {
    await this.redis.publish(this.keys.eventsChannel(), `${jobId} ${eventId}`);
  }

  /** Token bucket per key: `perMinute` requests, bursting to the same number. */
  async takeToken(
    keyId: string,
    perMinute: number,
    now = Date.now(),
  ): Promise<{ allowed: boolean; remaining: number; retryAfterMs: number }> {
    const r = (await this.redis['igTokenBucket']!(
      this.keys.rate(keyId),
      perMinute,
      perMinute / 60_000,
      now,
      120_000,
    )) as [number, number, number];
    return { allowed: r[0] === 1, remaining: r[1], retryAfterMs: r[2] };
  }

  async activeCount(keyId: string): Promise<number> {
    return this.redis.scard(this.keys.active(keyId));
  }
}
