import { TERMINAL_STATUSES, type Job, type JobRecord } from '@imagegen/contracts';

import type { JobRepository } from './job-repository.js';

/** What the view needs from the object store: a URL for an image, valid one hour from completion. */
export interface Presigner {
  presign(key: string, completedAt: number, now?: number): Promise<{ url: string } | null>;
  readonly config: { objectTtlMs: number };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * Builds the public job object from its record: presigned URL, queue position, prompt insights, webhook
 * delivery log and the vendor fields. The API answers with it and webhooks carry it as `data`.
 */
export async function jobView(
  record: JobRecord,
  jobs: Pick<JobRepository, 'queuePosition'>,
  storage: Presigner,
  now = Date.now(),
): Promise<Job> {
  const terminal = TERMINAL_STATUSES.includes(record.status);
  const revised = record.revisedPrompt ?? record.image?.revised_prompt ?? null;
  let output: Job['output'] = null;
  if (record.status === 'succeeded' && record.image) {
    const signed =
      record.completedAt === null ? null : await storage.presign(record.image.key, record.completedAt, now);
    output = {
      url: signed?.url ?? null,
      url_expires_at: iso(
        record.completedAt === null ? null : record.completedAt + storage.config.objectTtlMs,
      ),
      expired: signed === null,
      width: record.image.width,
      height: record.image.height,
      format: record.image.format,
      bytes: record.image.bytes,
      revised_prompt: revised,
    };
  }
  const position = record.status === 'queued' ? await jobs.queuePosition(record.id) : null;
  const timings: Record<string, number> = { ...record.timings };
  if (record.startedAt !== null) timings['queue'] = Math.max(0, record.startedAt - record.createdAt);
  const wh = record.webhookState;
  return {
    id: record.id,
    object: 'image.generation',
    status: record.status,
    stage: record.status === 'processing' ? record.stage : null,
    created_at: iso(record.createdAt)!,
    started_at: iso(record.startedAt),
    completed_at: iso(record.completedAt),
    queue_position: position === null ? null : position + 1,
    progress: record.progress,
    attempt: record.attempt,
    input: record.input,
    output,
    error: record.error,
    moderation: record.moderation,
    analysis: record.analysis,
    warnings: record.warnings,
    webhook:
      record.webhook === null
        ? null
        : {
            url: record.webhook.url,
            events: record.webhook.events,
            status: wh?.status ?? 'pending',
            attempts: wh?.attempts ?? 0,
            last_error: wh?.lastError ?? null,
            last_attempt_at: iso(wh?.lastAttemptAt ?? null),
            delivered_at: iso(wh?.deliveredAt ?? null),
          },
    metadata: record.metadata,
    timings_ms: timings,
    model: record.model,
    cached: record.cached,
    success: terminal ? record.status === 'succeeded' : null,
    request_id: record.id,
    image_url: output?.url ?? null,
    seed: record.input.seed,
    revised_prompt: revised,
  };
}
