import { z } from 'zod';

import type { ApiKeyRepository } from '@imagegen/access';
import { ListGenerationsQuery, type JobRecord } from '@imagegen/contracts';
import type { JobRepository } from '@imagegen/jobs';

import { decodeCursor, encodeCursor } from './list.js';
import { validationError } from './validation.js';

/** `GET /admin/v1/jobs`: the list route's query, plus `key_id` to keep one key's jobs. */
export const AdminListJobsQuery = ListGenerationsQuery.extend({
  key_id: z
    .string()
    .regex(/^[0-9a-f]{12}$/, {
      error: 'key_id must be an API key id (12 hexadecimal digits, see GET /admin/v1/keys)',
    })
    .optional(),
});

/**
 * Every key's retained jobs (or one key's), newest first by submit order, paged like
 * `GET /v1/images/generations`. Each key's index is read from the cursor down, and the pages are merged
 * by submit sequence; where one key's read stopped short (its page was full, or it scanned its limit),
 * the merged page ends there too, so no job of any key is skipped between pages.
 */
export async function listAllJobs(
  deps: { jobs: Pick<JobRepository, 'listForKey'>; apiKeys: Pick<ApiKeyRepository, 'list'> },
  query: unknown,
): Promise<{ records: JobRecord[]; nextCursor: string | null }> {
  const parsed = AdminListJobsQuery.safeParse(query);
  if (!parsed.success) throw validationError(parsed.error, { topLevelParams: true });
  const q = parsed.data;
  const keyIds = q.key_id === undefined ? (await deps.apiKeys.list()).map((k) => k.id) : [q.key_id];
  const options = {
    limit: q.limit,
    statuses: q.status,
    beforeSeq: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
  };
  const pages = await Promise.all(keyIds.map((id) => deps.jobs.listForKey(id, options)));
  // Below the highest point where some key's read stopped, that key's jobs are not known yet.
  const floors = pages.flatMap((p) => (p.nextBeforeSeq === null ? [] : [p.nextBeforeSeq]));
  const floor = floors.length > 0 ? Math.max(...floors) : null;
  const merged = pages
    .flatMap((p) => p.records)
    .filter((r) => floor === null || r.seq >= floor)
    .sort((a, b) => b.seq - a.seq);
  const records = merged.slice(0, q.limit);
  const last = records.at(-1);
  const next = merged.length > q.limit && last ? last.seq : floor;
  return { records, nextCursor: next === null ? null : encodeCursor(next) };
}
