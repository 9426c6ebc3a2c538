import { createHash } from 'node:crypto';

import {
  CreateGenerationRequest,
  ModerationError,
  type JobRecord,
  type JobWebhookTarget,
} from '@imagegen/contracts';
import {
  completeFromCopy,
  type CopyImage,
  type GatedSubmit,
  type GenerationQueue,
  type JobRepository,
  type RateState,
  type ResultCacheClaim,
  type SubmitGate,
  type SubmitOutcome,
} from '@imagegen/jobs';
import type { Logger, Metrics } from '@imagegen/observability';
import { analyzePrompt, refusalMessage, type ModelDomain, type PromptModerator } from '@imagegen/prompt';

import { promptWarnings } from './analyze.js';
import {
  concurrencyLimited,
  idempotencyConflict,
  invalidRequest,
  queueFull,
  rateLimited,
  unauthorized,
} from './errors.js';
import { checkPromptLength, validationError } from './validation.js';
import { randomString, randomUint32 } from './random.js';
import { parseWaitSeconds } from './wait.js';

export interface SubmitDeps {
  jobs: Pick<JobRepository, 'submit' | 'get' | 'clearEnqueueIntent' | 'finish'> & Partial<GatedSubmit>;
  queue: Pick<GenerationQueue, 'enqueue'>;
  /**
   * Drops the enqueue intent of a job now in BullMQ. Default: one call per job; the lean submit lets the
   * next submit's command drop it (`IntentClearer`).
   */
  clearIntent?: (id: string) => Promise<void> | void;
  moderator: PromptModerator;
  /** The models the workers run (for the `outside_model_domain` warning). */
  modelDomains: () => Promise<readonly ModelDomain[]>;
  /** Why a webhook URL is refused (SSRF policy), or null when it may be called. */
  webhookRefusal: (url: string) => Promise<string | null>;
  limits: { concurrency: number; queueBound: number; queueDeadlineMs: number };
  /**
   * Result reuse (api.md "Caching"): an identical request of the same key with an explicit seed is answered
   * from a server-side copy of an alive result, or waits for the identical job still running. Absent: off.
   */
  resultCache?: {
    /** How long an image lives after its job completes (IMAGE_TTL_MS). */
    objectTtlMs: number;
    copyImage: CopyImage;
    /**
     * The models the workers run, as one string: a change of model makes every earlier result a miss, and
     * while none is registered ('') nothing is cached.
     */
    modelIdentity: () => Promise<string>;
  };
  metrics: Pick<Metrics, 'moderationErrors' | 'promptsRefused' | 'jobsSubmitted' | 'resultCache'>;
  logger: Logger;
  now?: () => number;
  newJobId?: () => string;
  newObjectKey: (format: 'jpeg' | 'png') => string;
  randomSeed?: () => number;
  /**
   * With Redis replicas: resolves once a replica holds the job, throws (503, not accepted) when none does
   * in time (ReplicaAck; README "Redis in production").
   */
  durability?: { confirm(what: string): Promise<unknown> };
}

export interface SubmitRequest {
  keyId: string;
  requestId: string;
  /** The parsed JSON body, unvalidated. */
  body: unknown;
  /** The Idempotency-Key header, if sent. */
  idempotencyKey?: string | undefined;
  /** The Prefer header (RFC 7240), if sent: `wait=N` asks to block until the job ends or N seconds pass. */
  prefer?: string | undefined;
  /** The longest wait granted (MAX_WAIT_S). */
  maxWaitS?: number;
  /**
   * Jobs of the same request still to be submitted after this one (the OpenAI adapter's `n`): the
   * concurrency check leaves room for them, so a request that cannot fit whole is refused at its first job.
   */
  reserve?: number;
  /**
   * What a refused prompt does: `throw` (default) a ModerationError before any job exists; `record` a job
   * that ends `moderated` at once (stage `input`), as BFL's API reports it through its poll and webhook.
   */
  onRefused?: 'throw' | 'record';
  /**
   * Result reuse for this request (`Cache-Control` on submit): `use` (default) reuses an identical
   * request's result and offers its own; `refresh` (`no-cache`) generates anew and offers its result; `off`
   * (`no-store`, or a compatible API's request without a seed of the client's) neither. Only a request with
   * an explicit seed is ever cached.
   */
  cache?: CacheMode;
  /** The webhook's body format and BFL signing secret (the BFL adapter). */
  webhookExtras?: Pick<JobWebhookTarget, 'format' | 'secret'>;
  /**
   * Called with the new job's id once its record exists and before any worker can take it (the OpenAI
   * adapter's stream subscribes to its events and previews here, so it misses none).
   */
  beforeEnqueue?: (jobId: string) => Promise<void>;
  /**
   * The lean submit: the key (`keyId`, parsed from the presented secret) is authenticated and its write
   * rate limit taken in the submit's own atomic command (needs `jobs.submitGated`).
   */
  gate?: SubmitGate;
  /**
   * Told as soon as the gated command has answered, with the write bucket's state when it took a token
   * (for the RateLimit headers) or null (the key was refused before its bucket).
   */
  onGated?: (rate: RateState | null) => void;
}

export type CacheMode = 'use' | 'refresh' | 'off';

/** The request's result-reuse mode from its `Cache-Control` header: `no-store` → off, `no-cache` → refresh. */
export function cacheModeFrom(header: string | undefined): CacheMode {
  const directives = (header ?? '')
    .toLowerCase()
    .split(',')
    .map((d) => d.replace(/\s/g, ''));
  if (directives.includes('no-store')) return 'off';
  if (directives.includes('no-cache') || directives.includes('max-age=0')) return 'refresh';
  return 'use';
}

/** A result with less of its image's life left than this is not reused (the copy must still find it). */
export const RESULT_REUSE_MIN_LIFE_MS = 60_000;

/** 401 for a key that the gated submit refused (the same answer as the authentication middleware's). */
export const UNAUTHORIZED_MESSAGE = 'send a valid API key as "Authorization: Bearer <key>" or "x-key: <key>"';

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** `gen_` + 24 characters of [A-Za-z0-9]. */
export const JOB_ID = /^gen_[A-Za-z0-9]{24}$/;

export function newJobId(): string {
  return `gen_${randomString(ID_ALPHABET, 24)}`;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Canonical JSON (sorted keys) so equal bodies hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Submits a generation: validates, moderates (refusals name the category, never the words), analyses the
 * prompt, checks the webhook URL, then creates the job in one atomic command with its limits, idempotency
 * and enqueue intent. The job is handed to BullMQ right away; if that fails the intent stays and the
 * dispatcher hands it over, so an accepted job always runs.
 */
export async function submitGeneration(
  deps: SubmitDeps,
  req: SubmitRequest,
): Promise<{
  record: JobRecord;
  replayed: boolean;
  waitS: number;
  /** The new job's 0-based queue position as the submit command saw it (null when held). */
  position?: number | null;
}> {
  const parsed = CreateGenerationRequest.safeParse(req.body);
  if (!parsed.success) throw validationError(parsed.error);
  const body = parsed.data;
  checkPromptLength(body.prompt);
  const verdict = await deps.moderator.moderate([body.prompt], body.safety_tolerance);
  if (verdict.classifier_error) {
    deps.metrics.moderationErrors.inc({ reason: verdict.classifier_error });
    deps.logger.warn({ reason: verdict.classifier_error }, 'moderation model unavailable; word lists only');
  }
  const refused = !verdict.allowed && verdict.category ? verdict.category : null;
  if (refused) {
    deps.metrics.promptsRefused.inc({ category: refused, stage: 'submit' });
    if (req.onRefused !== 'record') throw new ModerationError(refusalMessage(refused), refused);
  }
  const target = await webhookTarget(deps, body);
  const webhook = target && req.webhookExtras ? { ...target, ...req.webhookExtras } : target;
  const idemKey = req.idempotencyKey;
  if (idemKey !== undefined && (idemKey.length < 1 || idemKey.length > 255)) {
    throw invalidRequest('Idempotency-Key must be 1 to 255 characters', 'Idempotency-Key');
  }
  const maxWaitS = req.maxWaitS ?? 0;
  const waitS = parseWaitSeconds(/(?:^|[,;\s])wait=(\d+)/.exec(req.prefer ?? '')?.[1], maxWaitS);
  if (waitS === null) {
    throw invalidRequest(`Prefer must be a whole number of seconds between 0 and ${maxWaitS}`, 'Prefer');
  }
  const now = deps.now?.() ?? Date.now();
  const id = (deps.newJobId ?? newJobId)();
  const input = {
    prompt: body.prompt,
    aspect_ratio: body.aspect_ratio,
    output_format: body.output_format,
    seed: body.seed ?? (deps.randomSeed ?? randomUint32)(),
    prompt_upsampling: body.prompt_upsampling,
    safety_tolerance: body.safety_tolerance,
  };
  const analysis = analyzePrompt(body.prompt);
  const objectKey = deps.newObjectKey(input.output_format);
  const idem = idemKey
    ? { keyDigest: sha256(idemKey), bodyDigest: sha256(canonicalJson(req.body)), ttlSeconds: 86_400 }
    : null;
  const job = {
    id,
    keyId: req.keyId,
    input,
    metadata: body.metadata ?? {},
    objectKey,
    requestId: req.requestId,
    createdAt: now,
    deadlineAt: now + deps.limits.queueDeadlineMs,
    webhook,
    analysis: { ...analysis },
    warnings: await promptWarnings(deps, body.prompt, analysis),
  };
  const limits = {
    concurrency: Math.max(1, deps.limits.concurrency - (req.reserve ?? 0)),
    queueBound: deps.limits.queueBound,
  };
  const reuse = deps.resultCache;
  const mode = req.cache ?? 'use';
  // Which model would make the image: unknown while no worker has registered, and then nothing is cached.
  const models =
    reuse && body.seed !== undefined && !refused && mode !== 'off' ? await reuse.modelIdentity() : '';
  const cache: ResultCacheClaim | null =
    reuse && models !== ''
      ? {
          digest: sha256(canonicalJson({ models, input })),
          lookup: mode === 'use',
          // Past the job's queue deadline, an hour to run, and its image's life.
          ttlSeconds: Math.ceil((deps.limits.queueDeadlineMs + reuse.objectTtlMs) / 1000) + 3600,
          objectTtlMs: reuse.objectTtlMs,
          minLifeMs: RESULT_REUSE_MIN_LIFE_MS,
        }
      : null;
  let outcome: SubmitOutcome;
  if (req.gate && deps.jobs.submitGated) {
    const gated = await deps.jobs.submitGated(job, limits, idem, req.gate, { cache });
    req.onGated?.(
      gated.kind === 'unauthorized' || gated.kind === 'auth_budget'
        ? null
        : gated.kind === 'rate_limited'
          ? { remaining: 0, retryAfterMs: gated.retryAfterMs }
          : gated.rate,
    );
    switch (gated.kind) {
      case 'unauthorized':
        throw unauthorized(UNAUTHORIZED_MESSAGE);
      case 'auth_budget':
        throw rateLimited(
          'too many failed authentications from this address; retry after the Retry-After delay',
          Math.max(1, Math.ceil(gated.retryAfterMs / 1000)),
        );
      case 'rate_limited':
        throw rateLimited(
          `this API key is limited to ${req.gate.writePerMinute} requests per minute here; retry after the Retry-After delay`,
          Math.max(1, Math.ceil(gated.retryAfterMs / 1000)),
        );
      case 'created':
      case 'held':
      case 'cached':
      case 'attached':
      case 'replayed':
      case 'queue_full':
      case 'concurrency':
        outcome = gated;
    }
  } else {
    outcome = await deps.jobs.submit(job, limits, idem, { cache });
  }
  switch (outcome.kind) {
    case 'queue_full':
      throw queueFull();
    case 'concurrency':
      throw concurrencyLimited(
        `this API key already has ${outcome.unfinished} unfinished generations (limit ${deps.limits.concurrency}); wait for one to finish`,
      );
    case 'replayed': {
      if (outcome.bodyDigest !== idem?.bodyDigest) {
        throw idempotencyConflict(
          'this Idempotency-Key was already used with a different body; use a new key',
        );
      }
      const record = await deps.jobs.get(outcome.jobId);
      if (!record)
        throw idempotencyConflict('the job of this Idempotency-Key no longer exists; use a new key');
      return { record, replayed: true, waitS };
    }
    case 'created':
    case 'held':
    case 'cached':
    case 'attached':
      break;
  }
  if (refused) {
    // Never handed to a worker: it ends here, with its event and webhook, like any moderated job.
    await deps.jobs.finish(
      id,
      req.keyId,
      'moderated',
      {
        error: { code: 'content_policy_violation', message: refusalMessage(refused), retryable: false },
        moderation: { stage: 'input', category: refused },
      },
      { onlyFrom: 'queued', now },
    );
    await deps.jobs.clearEnqueueIntent(id);
    deps.logger.info({ jobId: id, keyId: req.keyId, category: refused }, 'job refused at submit');
    const record = await deps.jobs.get(id);
    if (!record) throw new Error(`job ${id} vanished after it was created`);
    return { record, replayed: false, waitS };
  }
  if (outcome.kind === 'held') {
    // Beyond the key's concurrency limit with policy `queue`: the finish that frees a slot enqueues it.
    await deps.durability?.confirm(`job ${id}`);
    deps.metrics.jobsSubmitted.inc();
    if (cache) deps.metrics.resultCache.inc({ outcome: 'miss' });
    deps.logger.info({ jobId: id, keyId: req.keyId, requestId: req.requestId }, 'job held');
    return { record: outcome.record, replayed: false, waitS, position: null };
  }
  if (outcome.kind === 'attached') {
    // An identical request of this key is running: its finish completes this job from a copy of its image
    // (or enqueues it, when it fails).
    await req.beforeEnqueue?.(id);
    await deps.durability?.confirm(`job ${id}`);
    deps.metrics.jobsSubmitted.inc();
    deps.metrics.resultCache.inc({ outcome: 'attach' });
    deps.logger.info({ jobId: id, keyId: req.keyId, attachedTo: outcome.to }, 'job attached');
    return { record: outcome.record, replayed: false, waitS, position: null };
  }
  await req.beforeEnqueue?.(id);
  if (outcome.kind === 'cached' && reuse && outcome.source.image) {
    // The job waits with an enqueue intent until the copy has finished it: should this process die here,
    // the dispatcher enqueues it and it is generated instead.
    const source = { image: outcome.source.image, model: outcome.source.model };
    if (await completeFromCopy(deps.jobs, reuse.copyImage, { id, keyId: req.keyId, objectKey }, source)) {
      await deps.durability?.confirm(`job ${id}`);
      deps.metrics.jobsSubmitted.inc();
      deps.metrics.resultCache.inc({ outcome: 'hit' });
      deps.logger.info({ jobId: id, keyId: req.keyId, from: outcome.source.id }, 'job answered from cache');
      const record = await deps.jobs.get(id);
      if (!record) throw new Error(`job ${id} vanished after it was created`);
      return { record, replayed: false, waitS, position: null };
    }
    deps.logger.warn({ jobId: id, from: outcome.source.id }, 'cached image could not be copied; generating');
  }
  if (cache) deps.metrics.resultCache.inc({ outcome: 'miss' });
  try {
    await deps.queue.enqueue({ id, keyId: req.keyId, objectKey }, outcome.priority);
    await (deps.clearIntent ?? ((i: string) => deps.jobs.clearEnqueueIntent(i)))(id);
  } catch (err) {
    // The record and its enqueue intent are written: the dispatcher hands the job to BullMQ.
    deps.logger.warn({ err, jobId: id }, 'enqueue deferred to the dispatcher');
  }
  await deps.durability?.confirm(`job ${id}`);
  deps.metrics.jobsSubmitted.inc();
  deps.logger.info({ jobId: id, keyId: req.keyId, requestId: req.requestId }, 'job submitted');
  // The record as the submit command wrote it: no read back.
  return { record: outcome.record, replayed: false, waitS, position: outcome.position };
}

async function webhookTarget(
  deps: Pick<SubmitDeps, 'webhookRefusal'>,
  body: CreateGenerationRequest,
): Promise<JobWebhookTarget | null> {
  if (body.webhook_url === undefined) {
    if (body.webhook_events !== undefined) {
      throw invalidRequest(
        'webhook_events needs webhook_url: add the URL or remove webhook_events',
        'webhook_events',
      );
    }
    return null;
  }
  const refusal = await deps.webhookRefusal(body.webhook_url);
  if (refusal) {
    throw invalidRequest(`webhook_url is refused: ${refusal}; give a public https URL`, 'webhook_url');
  }
  return { url: body.webhook_url, events: [...new Set(body.webhook_events ?? (['completed'] as const))] };
}
