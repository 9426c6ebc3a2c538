import { AppError, type Job } from '@imagegen/contracts';
import {
  bflWebhookBody,
  jobView,
  webhookMessageId,
  type ConsumedJob,
  type JobRepository,
  type Presigner,
} from '@imagegen/jobs';
import type { ApiKeyRepository } from '@imagegen/access';
import type { Logger, Metrics } from '@imagegen/observability';
import { bflSignature, signedHeaders, type DeliveryRequest, type DeliveryResult } from '@imagegen/webhooks';

import { targetOf, type DeliveryGate } from './delivery-gate.js';

/** A failed attempt that the retry schedule should try again, no sooner than `retryAfterMs` (Retry-After). */
export class DeliveryFailure extends AppError {
  override name = 'DeliveryFailure';
  constructor(
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super('webhook_delivery_failed', message, { retryable: true });
  }
}

export interface DeliveryDeps {
  jobs: Pick<JobRepository, 'get' | 'queuePosition' | 'recordWebhookAttempt'>;
  apiKeys: Pick<ApiKeyRepository, 'webhookSecrets'>;
  storage: Presigner;
  metrics: Pick<Metrics, 'webhookDuration' | 'webhookDeliveries' | 'webhookDeferrals'>;
  /** Per-target and per-key concurrency and the circuit breakers; none: every attempt goes at once. */
  gate?: DeliveryGate;
  logger: Logger;
  /** One HTTP attempt (SSRF-guarded, no redirects, bounded). */
  deliver: (request: Pick<DeliveryRequest, 'url' | 'body' | 'headers'>) => Promise<DeliveryResult>;
  now?: () => number;
}

/**
 * Whether an attempt says the target is down or overwhelmed (no connection, no answer in time, 5xx, 429),
 * which counts towards its circuit breaker. A receiver that answers anything else is up, even if it
 * refuses this message (a 410, a redirect).
 */
function targetFailing(result: DeliveryResult): boolean {
  if (result.ok) return false;
  if (result.error !== 'http_status') return true;
  return result.status === null || result.status >= 500 || result.status === 429;
}

/**
 * One delivery attempt: rebuild the job object (a fresh presigned URL; the snapshot when the record is
 * purged), sign with the key's secrets, POST, log the attempt on the job. Resolves when the delivery is
 * settled (delivered, refused for good, or out of attempts); throws `DeliveryFailure` to be retried.
 */
export async function deliverWebhook(deps: DeliveryDeps, job: ConsumedJob<'deliverWebhook'>): Promise<void> {
  const { jobs, storage, metrics, logger } = deps;
  const d = job.data;
  const terminal = d.kind === 'completed';
  const record = await jobs.get(d.jobId);
  let data: Job | null = record ? await jobView(record, jobs, storage) : d.snapshot;
  if (!record && data) {
    // Purged record: the image is long gone too.
    const output = data.output ? { ...data.output, url: null, expired: true } : null;
    data = { ...data, output, image_url: null };
  }
  if (!data) return;
  const type = terminal ? `image.generation.${data.status}` : `image.generation.${d.kind}`;
  const at = Number(d.eventId.split('-')[0]);
  // BFL's clients read BFL's body (id, status, result.sample); everyone else the job object.
  const body = JSON.stringify(
    d.format === 'bfl'
      ? bflWebhookBody(data, new Date(at))
      : { type, timestamp: new Date(at).toISOString(), data },
  );
  const secrets = await deps.apiKeys.webhookSecrets(d.keyId);
  if (secrets.length === 0) {
    logger.warn({ jobId: d.jobId }, 'webhook dropped: the API key of this job no longer exists');
    return;
  }
  const id = job.id || webhookMessageId(d.jobId, d.eventId);
  const now = deps.now ?? Date.now;
  // A busy target or key, or a target that keeps failing: back to the queue, without spending an attempt
  // or holding a delivery slot (issue 17, finding 1).
  const admission = deps.gate?.admit(targetOf(d.url), d.keyId) ?? null;
  if (admission && !admission.ok) {
    metrics.webhookDeferrals.inc({ reason: admission.reason });
    return job.defer(admission.retryInMs);
  }
  const started = performance.now();
  let result: DeliveryResult;
  try {
    result = await deps.deliver({
      url: d.url,
      body,
      headers: {
        ...signedHeaders(secrets, id, Math.floor(now() / 1000), body),
        ...(d.bflSecret ? { 'x-bfl-signature': bflSignature(d.bflSecret, body) } : {}),
      },
    });
  } catch (e) {
    admission?.done('failure');
    throw e;
  }
  admission?.done(targetFailing(result) ? 'failure' : 'success');
  metrics.webhookDuration.observe((performance.now() - started) / 1000);
  const attemptNo = job.attemptsMade + 1;
  const at2 = now();
  if (result.ok) {
    metrics.webhookDeliveries.inc({ outcome: 'delivered' });
    await jobs.recordWebhookAttempt(d.jobId, {
      terminal,
      status: 'delivered',
      error: null,
      at: at2,
      deliveredAt: at2,
    });
    logger.info({ jobId: d.jobId, webhookId: id, attempt: attemptNo, type }, 'webhook delivered');
    return;
  }
  const giveUp = result.permanent || attemptNo >= job.maxAttempts;
  metrics.webhookDeliveries.inc({ outcome: giveUp ? 'failed' : 'retry' });
  // The job (read by its owner) gets the class only; the detail stays in this log (issue 17: errors on
  // the job mapped the server's network).
  await jobs.recordWebhookAttempt(d.jobId, {
    terminal,
    status: giveUp ? 'failed' : 'retrying',
    error: result.error,
    at: at2,
    deliveredAt: null,
  });
  logger.warn(
    {
      jobId: d.jobId,
      webhookId: id,
      attempt: attemptNo,
      status: result.status,
      giveUp,
      error: result.error,
      detail: result.detail,
    },
    'webhook delivery failed',
  );
  if (!giveUp) throw new DeliveryFailure(`${result.error}: ${result.detail}`, result.retryAfterMs);
}
