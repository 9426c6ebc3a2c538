import type { JobRecord, JobStage, JobStatus, NewJobRecord, JobOutcomeFields } from '@imagegen/contracts';

/** BullMQ's largest job priority (2^21 − 1); the fair order's rounds are capped at it. */
export const PRIORITY_LIMIT = 2 ** 21 - 1;

/** Limits a submit checks atomically with creating the job. */
export interface SubmitLimits {
  /** Unfinished jobs one API key may have. */
  concurrency: number;
  /** Waiting jobs the whole queue may hold (0 = no bound). */
  queueBound: number;
}

/** An Idempotency-Key, as digests: the key's and the canonical body's. */
export interface IdempotencyClaim {
  keyDigest: string;
  bodyDigest: string;
  ttlSeconds: number;
}

/**
 * Result reuse for one submit (api.md "Caching"): the key's identical requests share a digest. Absent: the
 * submit neither looks for a result nor offers its own.
 */
export interface ResultCacheClaim {
  /** SHA-256 (hex) of the model identity and every generation parameter, the explicit seed included. */
  digest: string;
  /**
   * Look for a result to reuse or a running job to attach to (`Cache-Control: no-cache` → false: the new
   * job only replaces the entry, so its fresh result is what later requests reuse).
   */
  lookup: boolean;
  /** How long the key's entry for the digest lives, in seconds (past the job's wait, run and image life). */
  ttlSeconds: number;
  /** How long an image lives after its job completes (IMAGE_TTL_MS). */
  objectTtlMs: number;
  /** A result with less life than this left is not reused (its copy must still find the object). */
  minLifeMs: number;
}

export interface SubmitOptions {
  cache?: ResultCacheClaim | null | undefined;
}

export type SubmitOutcome =
  /** Created and waiting at its fair place (BullMQ `priority`, 0-based `position`); the record as written. */
  | { kind: 'created'; seq: number; priority: number; position: number; record: JobRecord }
  /**
   * Created and waiting like `created`, with an identical request's result alive (`source`, succeeded):
   * the caller copies its image and finishes the job at once, or enqueues it when the copy fails.
   */
  | {
      kind: 'cached';
      seq: number;
      priority: number;
      position: number;
      record: JobRecord;
      source: JobRecord;
    }
  /**
   * Created and attached to an identical request's job still running (`to`): no place in the queue until
   * that job's finish releases it (and copies its image into it when it succeeded).
   */
  | { kind: 'attached'; seq: number; record: JobRecord; to: string }
  /** Created but held beyond the key's concurrency limit (policy `queue`): enqueued when a slot frees. */
  | { kind: 'held'; seq: number; record: JobRecord }
  | { kind: 'replayed'; jobId: string; bodyDigest: string }
  | { kind: 'queue_full' }
  | { kind: 'concurrency'; unfinished: number };

/** How a key's jobs are ordered and limited (set by the admin on the key's record). */
export interface KeySchedulingSettings {
  /** Jobs the key gets per round of the fair order (1 to 100; default 1). */
  weight: number;
  /** At the concurrency limit: `reject` (429, the default) or `queue` (accept and hold). */
  concurrencyPolicy: 'reject' | 'queue';
}

/**
 * The lean submit's admission, checked in the same atomic command as the submit: the presented secret's
 * SHA-256 (hex) against the key's record, the client address's failed-authentication budget and the key's
 * write rate limit.
 */
export interface SubmitGate {
  secretHash: string;
  /** The client address's failed-authentication bucket name and its per-minute budget. */
  authBucket: string;
  authFailuresPerMinute: number;
  /** The key's write bucket name and its per-minute limit. */
  writeBucket: string;
  writePerMinute: number;
  /**
   * Enqueue intents of earlier jobs now in BullMQ, taken right before the command runs and dropped by it
   * (no round trip of their own).
   */
  takeIntents?: () => readonly string[];
}

/** The write bucket's state after a gated submit took its token. */
export interface RateState {
  remaining: number;
  retryAfterMs: number;
}

export type GatedSubmitOutcome =
  | (SubmitOutcome & { rate: RateState })
  | { kind: 'unauthorized' }
  | { kind: 'auth_budget'; retryAfterMs: number }
  | { kind: 'rate_limited'; retryAfterMs: number };

/** A store whose submit can also authenticate and rate-limit in the same atomic step (the lean submit). */
export interface GatedSubmit {
  submitGated(
    job: NewJobRecord,
    limits: SubmitLimits,
    idempotency: IdempotencyClaim | null,
    gate: SubmitGate,
    options?: SubmitOptions,
  ): Promise<GatedSubmitOutcome>;
}

/** A held job that a finish released: it now waits at its fair place and must be enqueued. */
export interface ReleasedJob {
  id: string;
  keyId: string;
  objectKey: string;
  priority: number;
}

/** One page of a key's jobs, newest first. */
export interface JobPage {
  records: JobRecord[];
  /** Where the next page starts (below this submit sequence number), or null after the last page. */
  nextBeforeSeq: number | null;
}

export interface ListOptions {
  limit: number;
  /** Only jobs in one of these statuses. */
  statuses?: readonly JobStatus[] | undefined;
  /** Only jobs submitted before this sequence number (from the previous page). */
  beforeSeq?: number | undefined;
}

/**
 * How many jobs one key retains by default (MAX_RETAINED_JOBS_PER_KEY): its index keeps its newest, and the
 * records of older finished ones are purged at its next submit, before their retention ends.
 */
export const KEY_JOBS_INDEX_MAX = 5000;
/** How many index entries one list call may read before it returns a shorter page with a cursor. */
export const LIST_SCAN_MAX = 1000;

export type StartOutcome =
  | { kind: 'started' }
  | { kind: 'missing' }
  | { kind: 'cancel_requested' }
  | { kind: 'settled'; status: JobStatus };

export type FinishOutcome =
  | {
      kind: 'done';
      released: ReleasedJob | null;
      /**
       * The jobs that were attached to this one (result reuse), now waiting with enqueue intents: after a
       * success each was completed from a copy of the image where the repository could copy it, otherwise
       * enqueued to run on its own (see `settleAttached`).
       */
      attached: ReleasedJob[];
    }
  | { kind: 'settled'; status: JobStatus }
  | { kind: 'missing' };

export type TerminalStatus = Exclude<JobStatus, 'queued' | 'processing'>;

export interface WebhookAttempt {
  terminal: boolean;
  status: 'delivered' | 'retrying' | 'failed';
  error: string | null;
  at: number;
  deliveredAt: number | null;
}

/**
 * The job record and its transitions. Every transition a client or webhook can observe happens in one
 * atomic step together with its event and its outbox entry. `RedisJobRepository` is the implementation;
 * `MemoryJobRepository` (./testing) is the fake for the fast test tier, held to the same contract tests.
 */
export interface JobRepository {
  /**
   * Creates a queued job with its checks (idempotency replay, queue bound, the key's concurrency and its
   * policy), its `queued` event and an enqueue intent, atomically, at its fair place among waiting jobs.
   */
  submit(
    job: NewJobRecord,
    limits: SubmitLimits,
    idempotency: IdempotencyClaim | null,
    options?: SubmitOptions,
  ): Promise<SubmitOutcome>;
  get(id: string): Promise<JobRecord | null>;
  /**
   * A key's retained jobs, newest first, from its index (no scan of other keys' jobs). A page may hold
   * fewer than `limit` jobs when a status filter skips many; follow `nextBeforeSeq` until it is null.
   */
  listForKey(keyId: string, options: ListOptions): Promise<JobPage>;
  /** 0-based position among waiting jobs in the order workers take them, or null when not waiting. */
  queuePosition(id: string): Promise<number | null>;
  waitingCount(): Promise<number>;
  /** When the job first in the queue was submitted (epoch ms), or null when none waits. */
  oldestQueuedAt(): Promise<number | null>;
  /** A worker takes (or retakes, after a crash) the job. */
  start(id: string, attempt: number, worker: string, now?: number): Promise<StartOutcome>;
  progress(
    id: string,
    stage: JobStage,
    step: number | null,
    total: number | null,
    progress: number,
  ): Promise<void>;
  /**
   * Ends the job with a terminal status, exactly once; later calls report what it already is. The slot it
   * frees may release the key's oldest held job (`released`), which the caller enqueues. Jobs attached to
   * it (result reuse) are released too and settled by the repository (`attached`).
   */
  finish(
    id: string,
    keyId: string,
    status: TerminalStatus,
    data: JobOutcomeFields,
    options?: { onlyFrom?: 'queued' | 'processing'; now?: number },
  ): Promise<FinishOutcome>;
  /** Keeps the prompt the worker generates from (prompt_upsampling), so a retry reuses it. */
  setRevisedPrompt(id: string, prompt: string): Promise<void>;
  /** Counts an engine-thread death under the job (poison-job detection). */
  countEngineCrash(id: string): Promise<void>;
  /** Counts a worker shutdown that gave the job up (its stall is not the job's fault). */
  countShutdownAbandon(id: string): Promise<void>;
  /** Flags a running job for cancellation and tells every worker; returns the status it had. */
  requestCancel(id: string): Promise<JobStatus | 'missing'>;
  /** Logs one webhook delivery attempt on the job (a no-op once the record is purged). */
  recordWebhookAttempt(id: string, attempt: WebhookAttempt): Promise<void>;
  /**
   * Ends as `expired` the waiting jobs whose queue deadline has passed, oldest first, at most `limit` per
   * call; returns them.
   */
  expireOverdue(now?: number, limit?: number): Promise<{ id: string; keyId: string }[]>;
  /** Ids of enqueue intents older than `olderThanMs` (by Redis's clock), oldest first. */
  enqueueIntents(olderThanMs: number, limit?: number): Promise<string[]>;
  /** Processing jobs that started more than `olderThanMs` ago (by Redis's clock), oldest first. */
  runningSince(olderThanMs: number, limit?: number): Promise<{ id: string; keyId: string }[]>;
  /** Drops enqueue intents once their jobs are in BullMQ (or will never run). */
  clearEnqueueIntent(...ids: string[]): Promise<void>;
}

/** The error of a job that waited past its queue deadline. */
export const EXPIRED_ERROR = {
  code: 'expired',
  message: 'the job waited longer than the queue deadline; submit it again',
  retryable: true,
} as const;

/**
 * The error of a job left `processing` that BullMQ no longer runs (its last attempt ended outside the
 * worker's failure handling: Redis lost mid-settle, a process killed at the wrong moment).
 */
export const WORKER_LOST_ERROR = {
  code: 'worker_lost',
  message: 'the job’s worker stopped without finishing it and it will not be retried; submit it again',
  retryable: true,
} as const;
