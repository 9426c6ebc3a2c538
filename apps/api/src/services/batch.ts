import type { JobRecord } from '@imagegen/contracts';

import { cancelGeneration, type CancelDeps } from './cancel.js';
import { submitGeneration, type SubmitDeps, type SubmitRequest } from './submit.js';
import { waitForTerminal, type WaitDeps } from './wait.js';

export type BatchDeps = SubmitDeps &
  Omit<CancelDeps, 'jobs'> & { jobs: SubmitDeps['jobs'] & CancelDeps['jobs'] };

/**
 * Submits one job per body, in order, as one request: each job's concurrency check leaves room for the
 * jobs still to come, so a request that does not fit whole is refused at its first job; if a later job is
 * refused anyway (another request took the room meanwhile, the queue filled), the jobs already created
 * are canceled and the error is thrown. Returns the records in the order of `bodies`.
 */
export async function submitBatch(
  deps: BatchDeps,
  req: Omit<SubmitRequest, 'body' | 'reserve' | 'prefer' | 'idempotencyKey'>,
  bodies: readonly unknown[],
): Promise<JobRecord[]> {
  const records: JobRecord[] = [];
  try {
    for (const [i, body] of bodies.entries()) {
      const { record } = await submitGeneration(deps, { ...req, body, reserve: bodies.length - 1 - i });
      records.push(record);
    }
  } catch (err) {
    await Promise.allSettled(records.map((r) => cancelGeneration(deps, r)));
    throw err;
  }
  return records;
}

/** Waits until every job is terminal or `seconds` pass (one deadline for all); returns the latest records. */
export async function waitForAll(
  deps: WaitDeps,
  records: readonly JobRecord[],
  seconds: number,
): Promise<JobRecord[]> {
  const deadline = Date.now() + seconds * 1000;
  const out: JobRecord[] = [];
  for (const r of records) {
    const left = (deadline - Date.now()) / 1000;
    out.push(left > 0 ? await waitForTerminal(deps, r, left) : ((await deps.jobs.get(r.id)) ?? r));
  }
  return out;
}
