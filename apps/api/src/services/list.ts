import { ListGenerationsQuery, type JobRecord } from '@imagegen/contracts';
import type { JobRepository } from '@imagegen/jobs';

import { invalidRequest } from './errors.js';
import { validationError } from './validation.js';

/** Cursors are opaque to clients: `v1.<seq>` in base64url, so the format can change without breaking them. */
export const encodeCursor = (seq: number) => Buffer.from(`v1.${seq}`).toString('base64url');

export function decodeCursor(cursor: string): number {
  const m = /^v1\.(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m)
    throw invalidRequest(
      'cursor is not one this API gave out: pass next_cursor from the previous page',
      'cursor',
    );
  return Number(m[1]);
}

/**
 * `GET /v1/images/generations`: the key's retained jobs, newest first, from its index. A page may be
 * shorter than `limit` when a status filter skips many; `nextCursor` is null after the last page.
 */
export async function listGenerations(
  deps: { jobs: Pick<JobRepository, 'listForKey'> },
  keyId: string,
  query: unknown,
): Promise<{ records: JobRecord[]; nextCursor: string | null }> {
  const parsed = ListGenerationsQuery.safeParse(query);
  if (!parsed.success) throw validationError(parsed.error, { topLevelParams: true });
  const q = parsed.data;
  const page = await deps.jobs.listForKey(keyId, {
    limit: q.limit,
    statuses: q.status,
    beforeSeq: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
  });
  return {
    records: page.records,
    nextCursor: page.nextBeforeSeq === null ? null : encodeCursor(page.nextBeforeSeq),
  };
}
