import {
  AppError,
  CanceledError,
  EngineLostError,
  JobTimeoutError,
  WorkerCrashedError,
  type JobFailure,
} from '@imagegen/contracts';

/** What the worker knows when an attempt of a job fails. */
export interface FailureContext {
  /** Why the job's abort signal fired, if it did: a client cancel or the job timeout. */
  abortReason: unknown;
  /** Attempts that ended before this one. */
  attemptsMade: number;
  maxAttempts: number;
  /** Worker and engine deaths under this job before this failure. */
  crashes: number;
  /** Crashes a job may cause before it is not tried again. */
  maxCrashes: number;
}

/** What to do about a failed attempt. */
export type FailureDecision =
  | { action: 'cancel' }
  | { action: 'fail'; error: JobFailure }
  /** Leave the record `processing` and let BullMQ try again; `engineCrash` counts one more crash. */
  | { action: 'retry'; engineCrash: boolean };

const failure = (e: AppError): JobFailure => ({
  code: e.code,
  message: e.message,
  retryable: e.resubmittable,
});

/**
 * The worker's failure policy, decided by error class, never by message:
 * 1. the client canceled → `canceled`;
 * 2. the job timeout fired → `failed` (timeout), even when the engine was given up meanwhile;
 * 3. the engine was lost (crash, missed deadline) → retried, until the job has caused more than
 *    `maxCrashes` crashes → `failed` (worker_crashed): a poison job must not take workers down forever
 *    (on the last attempt with fewer crashes it fails as `engine_lost`, which a client may resubmit);
 * 4. an error that retrying cannot fix (`retryable` false) → `failed` with its code;
 * 5. anything else is transient → retried, and `failed` on the last attempt.
 */
export function decideFailure(err: unknown, c: FailureContext): FailureDecision {
  if (c.abortReason instanceof CanceledError) return { action: 'cancel' };
  if (c.abortReason instanceof JobTimeoutError) return { action: 'fail', error: failure(c.abortReason) };
  const lastAttempt = c.attemptsMade + 1 >= c.maxAttempts;
  if (err instanceof EngineLostError) {
    if (c.crashes + 1 > c.maxCrashes) {
      return { action: 'fail', error: failure(new WorkerCrashedError(c.crashes + 1)) };
    }
    // Out of attempts for other reasons (earlier transient failures): the engine loss is what it is.
    if (lastAttempt) return { action: 'fail', error: failure(err) };
    return { action: 'retry', engineCrash: true };
  }
  if (err instanceof AppError && !err.retryable) return { action: 'fail', error: failure(err) };
  if (!lastAttempt) return { action: 'retry', engineCrash: false };
  if (err instanceof AppError) return { action: 'fail', error: failure(err) };
  return {
    action: 'fail',
    error: {
      code: 'generation_failed',
      message: err instanceof Error ? err.message : 'generation failed',
      retryable: true,
    },
  };
}
