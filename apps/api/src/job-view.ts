import type { Job } from '@imagegen/contracts';
import { TERMINAL_STATUSES } from '@imagegen/contracts';
import type { JobRecord, JobStore } from '@imagegen/queue';
import type { ObjectStore } from '@imagegen/storage';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Builds the public job object from its record: presigned URL, queue position, vendor fields. */
export async function jobView(
  record: JobRecord,
  jobs: JobStore,
  storage: ObjectStore,
  now = Date.now(),
): Promise<Job> {
  const terminal = TERMINAL_STATUSES.includes(record.status);
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
      revised_prompt: record.image.revised_prompt,
    };
  }
  const position = record.status === 'queued' ? await jobs.queuePosition(record.id) : null;
  const timings: Record<string, number> = { ...record.timings };
  if (record.startedAt !== null) timings['queue'] = Math.max(0, record.startedAt - record.createdAt);
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
    metadata: record.metadata,
    timings_ms: timings,
    success: terminal ? record.status === 'succeeded' : null,
    request_id: record.id,
    image_url: output?.url ?? null,
    seed: record.input.seed,
    revised_prompt: output?.revised_prompt ?? null,
  };
}
