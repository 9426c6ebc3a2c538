import { TERMINAL_STATUSES, type JobRecord } from '@imagegen/contracts';
import type { JobEvents, JobRepository } from '@imagegen/jobs';

import { keyRevoked, type OpenRequests } from './open-requests.js';

export interface WaitDeps {
  jobs: Pick<JobRepository, 'get'>;
  events: Pick<JobEvents, 'listen'>;
  /** Aborted when the process shuts down: waits answer at once with the job as it is. */
  shutdown?: AbortSignal | undefined;
  /** How often to re-read the record in case a notification was missed. Default 2000 ms. */
  pollMs?: number;
  /** Counts the waits each key holds (a cap, then 429) and ends them when the key is revoked (401). */
  openRequests?: OpenRequests | undefined;
  /** Record reads shared by the waits woken together (see shared-reads.ts); default `jobs`. */
  jobReads?: Pick<JobRepository, 'get' | 'queuePosition'> | undefined;
}

/** Resolves once the job is terminal, `seconds` pass, or the process shuts down; returns the latest record. */
export async function waitForTerminal(
  deps: WaitDeps,
  record: JobRecord,
  seconds: number,
): Promise<JobRecord> {
  if (seconds <= 0 || TERMINAL_STATUSES.includes(record.status)) return record;
  const held = deps.openRequests?.enter(record.keyId, 'wait');
  // A function, so control flow analysis does not assume the signal cannot change across awaits.
  const revoked = () => held?.signal.aborted === true;
  const pollMs = deps.pollMs ?? 2000;
  let wake: () => void = () => undefined;
  // An event that arrives while the record is being read (no wait armed yet) must not be lost.
  const heard = { event: false };
  const notify = () => {
    heard.event = true;
    wake();
  };
  const stop = deps.events.listen(record.id, notify);
  const onShutdown = notify;
  deps.shutdown?.addEventListener('abort', onShutdown);
  held?.signal.addEventListener('abort', notify);
  const deadline = Date.now() + seconds * 1000;
  try {
    const reads = deps.jobReads ?? deps.jobs;
    let current = (await reads.get(record.id)) ?? record;
    while (
      !TERMINAL_STATUSES.includes(current.status) &&
      Date.now() < deadline &&
      deps.shutdown?.aborted !== true &&
      !revoked()
    ) {
      if (!heard.event) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now())));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      heard.event = false;
      if (revoked()) break;
      current = (await reads.get(record.id)) ?? current;
    }
    if (revoked()) throw keyRevoked();
    return current;
  } finally {
    stop();
    deps.shutdown?.removeEventListener('abort', onShutdown);
    held?.signal.removeEventListener('abort', notify);
    held?.release();
  }
}

/** `Prefer: wait=N` (RFC 7240) or `?wait=N`, clamped to [0, max]; undefined means 0. */
export function parseWaitSeconds(value: unknown, max: number): number | null {
  if (value === undefined) return 0;
  if (typeof value !== 'string' || !/^\d{1,4}$/.test(value)) return null;
  return Math.min(Number(value), max);
}
