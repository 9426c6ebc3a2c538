import type { JobRecord } from '@imagegen/contracts';
import type { JobRepository } from '@imagegen/jobs';

import { notFound } from './errors.js';
import { JOB_ID } from './submit.js';

/** The job `id` if it belongs to `keyId`; another key's job is as absent as a missing one (404). */
export async function readOwnedJob(
  jobs: Pick<JobRepository, 'get'>,
  keyId: string,
  id: string,
): Promise<JobRecord> {
  if (!JOB_ID.test(id)) throw notFound();
  const record = await jobs.get(id);
  if (!record || record.keyId !== keyId) throw notFound();
  return record;
}
