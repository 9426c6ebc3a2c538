import { z } from 'zod';

import { JOB_STAGES, JOB_STATUSES, JobInput, JobModel, WEBHOOK_EVENTS, type JobStatus } from './api.js';

/**
 * The job record: what Redis keeps about one generation (a hash under `…:job:<id>`), shared by the api,
 * the worker and the dispatcher. The schema below is the one definition of its fields; `decodeJobRecord`
 * and `encodeJobFields` are the only code that knows how each field is spelled and encoded in the hash.
 * The Lua commands in packages/jobs/lua also read and write a few fields by name (status, stage,
 * progress, attempt, seq, started_at/completed_at, cancel_requested, worker, wh_* delivery log): the same
 * names `decodeJobRecord` reads.
 */

/** The image the worker stored, once uploaded. */
export const JobImage = z.object({
  key: z.string(),
  bytes: z.int(),
  width: z.int(),
  height: z.int(),
  format: z.enum(['jpeg', 'png']),
  revised_prompt: z.string().nullable(),
});
export type JobImage = z.infer<typeof JobImage>;

/**
 * How a job failed, as its client sees it. `retryable` here is the public field: the client may submit
 * the same request again (an AppError's `resubmittable`), not whether the service retries it.
 */
export const JobFailure = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() });
export type JobFailure = z.infer<typeof JobFailure>;

export const JobModerationRecord = z.object({
  stage: z.enum(['input', 'output']),
  category: z.string().nullable(),
});
export type JobModerationRecord = z.infer<typeof JobModerationRecord>;

export type WebhookEventKind = (typeof WEBHOOK_EVENTS)[number];
/**
 * Where a job's webhook goes. `format: 'bfl'` (jobs submitted through the BFL adapter) sends BFL's body
 * (`{id, status, result, …}`) instead of the job object, and with `secret` (the request's
 * `webhook_secret`) adds BFL's `X-BFL-Signature`; the secret is never shown on the job.
 */
export const JobWebhookTarget = z.object({
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  format: z.enum(['standard', 'bfl']).optional(),
  secret: z.string().optional(),
});
export type JobWebhookTarget = z.infer<typeof JobWebhookTarget>;

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'retrying', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** The delivery log shown on the job. */
export interface WebhookDeliveryState {
  status: WebhookDeliveryStatus;
  attempts: number;
  lastError: string | null;
  lastAttemptAt: number | null;
  deliveredAt: number | null;
}

export const PromptWarningRecord = z.object({ code: z.string(), message: z.string() });

/** A job record, decoded. Times are epoch milliseconds. */
export interface JobRecord {
  id: string;
  keyId: string;
  status: JobStatus;
  stage: (typeof JOB_STAGES)[number] | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  progress: number;
  attempt: number;
  seq: number;
  input: JobInput;
  metadata: Record<string, unknown>;
  /** Chosen at submit, so every attempt writes the same object (no orphans). */
  objectKey: string;
  image: JobImage | null;
  error: JobFailure | null;
  timings: Record<string, number>;
  requestId: string;
  cancelRequested: boolean;
  /** host:pid of the worker that last started the job. */
  worker: string | null;
  /** Latest moment a worker may start the job; later it ends as `expired`. */
  deadlineAt: number;
  /** Times an engine thread died under this job (a process death is counted by BullMQ's stall count). */
  engineCrashes: number;
  /**
   * Times a worker shutting down gave the job up past WORKER_SHUTDOWN_MS: those stalls are the
   * deployment's doing, not the job's, and do not count as crashes.
   */
  shutdownAbandons: number;
  webhook: JobWebhookTarget | null;
  webhookState: WebhookDeliveryState | null;
  analysis: Record<string, unknown> | null;
  warnings: { code: string; message: string }[];
  /** The prompt actually generated when prompt_upsampling rewrote it. */
  revisedPrompt: string | null;
  moderation: JobModerationRecord | null;
  /** The model whose engine made the image (name and revision), written with the outcome. */
  model: JobModel | null;
  /**
   * The job's BullMQ priority: its round in the fair order over keys (0 while held beyond its key's
   * concurrency limit, and for jobs from before fair scheduling).
   */
  priority: number;
  /** True while held beyond its key's concurrency limit (concurrency_policy `queue`), not yet enqueued. */
  held: boolean;
  /** The image is a copy of an identical earlier request's (result reuse; see JobOutcomeFields.cached). */
  cached: boolean;
  /** The running job this one waits for instead of generating (result reuse), until that one ends. */
  attachedTo: string | null;
}

/** The fields a submit writes; the submit command adds `seq` and `status`. */
export interface NewJobRecord {
  id: string;
  keyId: string;
  input: JobInput;
  metadata: Record<string, unknown>;
  objectKey: string;
  requestId: string;
  createdAt: number;
  deadlineAt: number;
  webhook: JobWebhookTarget | null;
  analysis: Record<string, unknown> | null;
  warnings: { code: string; message: string }[];
}

/** The fields a terminal transition may write. */
export interface JobOutcomeFields {
  image?: JobImage;
  error?: JobFailure;
  timings?: Record<string, number>;
  revisedPrompt?: string;
  moderation?: JobModerationRecord;
  model?: JobModel;
  /**
   * The image is a server-side copy of an identical earlier request's result (result reuse): from a
   * finished one (`cached`), or from one still running when this job was submitted (attached to it).
   */
  cached?: boolean;
}

const json = <T>(schema: z.ZodType<T>, fallback: T) => ({
  decode: (v: string | undefined): T =>
    v === undefined || v === '' ? fallback : schema.parse(JSON.parse(v)),
  encode: (v: T): string => JSON.stringify(v),
});
const numberOr =
  <T extends number | null>(fallback: T) =>
  (v: string | undefined) =>
    v === undefined || v === '' ? fallback : Number(v);

const codecs = {
  input: json(JobInput, null as unknown as JobInput),
  metadata: json(z.record(z.string(), z.unknown()), {}),
  image: json(JobImage.nullable(), null),
  error: json(JobFailure.nullable(), null),
  timings: json(z.record(z.string(), z.number()), {}),
  webhook: json(JobWebhookTarget.nullable(), null),
  analysis: json(z.record(z.string(), z.unknown()).nullable(), null),
  warnings: json(z.array(PromptWarningRecord), []),
  moderation: json(JobModerationRecord.nullable(), null),
  model: json(JobModel.nullable(), null),
};

const Status = z.enum(JOB_STATUSES);
const Stage = z.enum(JOB_STAGES);
const DeliveryStatus = z.enum(WEBHOOK_DELIVERY_STATUSES);

/** The record from its Redis hash (HGETALL), or null when the hash is absent or was never a job. */
export function decodeJobRecord(h: Record<string, string>): JobRecord | null {
  if (!h['id'] || !h['status']) return null;
  return {
    id: h['id'],
    keyId: h['key_id'] ?? '',
    status: Status.parse(h['status']),
    stage: h['stage'] ? Stage.parse(h['stage']) : null,
    createdAt: Number(h['created_at']),
    startedAt: numberOr(null)(h['started_at']),
    completedAt: numberOr(null)(h['completed_at']),
    progress: numberOr(0)(h['progress']),
    attempt: numberOr(0)(h['attempt']),
    seq: numberOr(0)(h['seq']),
    input: codecs.input.decode(h['input']),
    metadata: codecs.metadata.decode(h['metadata']),
    objectKey: h['object_key'] ?? '',
    image: codecs.image.decode(h['image']),
    error: codecs.error.decode(h['error']),
    timings: codecs.timings.decode(h['timings']),
    requestId: h['request_id'] ?? '',
    cancelRequested: h['cancel_requested'] === '1',
    worker: h['worker'] ?? null,
    deadlineAt: numberOr(0)(h['deadline_at']),
    engineCrashes: numberOr(0)(h['engine_crashes']),
    shutdownAbandons: numberOr(0)(h['shutdown_abandons']),
    webhook: codecs.webhook.decode(h['webhook']),
    webhookState: h['wh_status']
      ? {
          status: DeliveryStatus.parse(h['wh_status']),
          attempts: numberOr(0)(h['wh_attempts']),
          lastError: h['wh_last_error'] || null,
          lastAttemptAt: numberOr(null)(h['wh_last_attempt_at']),
          deliveredAt: numberOr(null)(h['wh_delivered_at']),
        }
      : null,
    analysis: codecs.analysis.decode(h['analysis']),
    warnings: codecs.warnings.decode(h['warnings']),
    revisedPrompt: h['revised_prompt'] ?? null,
    moderation: codecs.moderation.decode(h['moderation']),
    model: codecs.model.decode(h['model']),
    priority: numberOr(0)(h['priority']),
    held: h['held_limit'] !== undefined && h['held_limit'] !== '',
    cached: h['cached'] === '1',
    attachedTo: h['attached_to'] || null,
  };
}

/** Hash fields of a new job (the submit command adds `seq` and `status`). */
export function encodeNewJob(job: NewJobRecord): Record<string, string> {
  const fields: Record<string, string> = {
    id: job.id,
    key_id: job.keyId,
    created_at: String(job.createdAt),
    deadline_at: String(job.deadlineAt),
    attempt: '0',
    progress: '0',
    input: codecs.input.encode(job.input),
    metadata: codecs.metadata.encode(job.metadata),
    object_key: job.objectKey,
    request_id: job.requestId,
    analysis: codecs.analysis.encode(job.analysis),
    warnings: codecs.warnings.encode(job.warnings),
  };
  if (job.webhook) {
    fields['webhook'] = codecs.webhook.encode(job.webhook);
    // Read by the outbox include: ",queued,completed," — a subscribed event is ",<kind>,".
    fields['wh_events'] = `,${job.webhook.events.join(',')},`;
    fields['wh_status'] = 'pending';
    fields['wh_attempts'] = '0';
  }
  return fields;
}

/** Hash fields written with a terminal status. */
export function encodeOutcome(data: JobOutcomeFields): Record<string, string> {
  const fields: Record<string, string> = {};
  if (data.image) fields['image'] = codecs.image.encode(data.image);
  if (data.error) fields['error'] = codecs.error.encode(data.error);
  if (data.timings) fields['timings'] = codecs.timings.encode(data.timings);
  if (data.revisedPrompt !== undefined) fields['revised_prompt'] = data.revisedPrompt;
  if (data.moderation) fields['moderation'] = codecs.moderation.encode(data.moderation);
  if (data.model) fields['model'] = codecs.model.encode(data.model);
  if (data.cached) fields['cached'] = '1';
  return fields;
}

/** The hash field that keeps the revised prompt (written before generation, reused by retries). */
export const REVISED_PROMPT_FIELD = 'revised_prompt';
/** The hash field counting engine-thread deaths under the job. */
export const ENGINE_CRASHES_FIELD = 'engine_crashes';
/** The hash field counting shutdowns that gave the job up. */
export const SHUTDOWN_ABANDONS_FIELD = 'shutdown_abandons';
