import { describe, expect, it } from 'vitest';

import {
  AppError,
  CanceledError,
  EngineLostError,
  JobTimeoutError,
  ModerationError,
  StorageError,
} from '@imagegen/contracts';

import { decideFailure, type FailureContext } from './failure-policy.js';

/** The first of five attempts, no crashes so far, at most two crashes per job. */
const ctx = (over: Partial<FailureContext> = {}): FailureContext => ({
  abortReason: undefined,
  attemptsMade: 0,
  maxAttempts: 5,
  crashes: 0,
  maxCrashes: 2,
  ...over,
});
const LAST = { attemptsMade: 4 };

describe('decideFailure', () => {
  it('ends a job the client canceled as canceled, whatever the engine threw', () => {
    const reason = new CanceledError();
    expect(decideFailure(new Error('aborted'), ctx({ abortReason: reason }))).toEqual({ action: 'cancel' });
    expect(decideFailure(new EngineLostError('gone'), ctx({ abortReason: reason }))).toEqual({
      action: 'cancel',
    });
  });

  it('fails a job that ran past its timeout, even when the engine was given up meanwhile', () => {
    const reason = new JobTimeoutError(300_000);
    for (const err of [new Error('aborted'), new EngineLostError('given up after the grace period')]) {
      const d = decideFailure(err, ctx({ abortReason: reason }));
      expect(d).toEqual({
        action: 'fail',
        // The client may submit it again.
        error: { code: 'timeout', message: reason.message, retryable: true },
      });
    }
  });

  it('retries a job whose engine was lost, counting the crash', () => {
    expect(decideFailure(new EngineLostError('exit 134'), ctx({ crashes: 1 }))).toEqual({
      action: 'retry',
      engineCrash: true,
    });
  });

  it('stops retrying a job that keeps taking engines down: worker_crashed', () => {
    const d = decideFailure(new EngineLostError('exit 134'), ctx({ crashes: 2 }));
    expect(d).toMatchObject({ action: 'fail', error: { code: 'worker_crashed', retryable: false } });
    expect(d.action === 'fail' && d.error.message).toContain('3 attempts');
  });

  it('fails an engine loss on the last attempt as engine_lost (resubmittable), not as a poison job', () => {
    // Earlier attempts ended on transient errors: one engine loss does not make the job a poison job.
    expect(decideFailure(new EngineLostError('exit 134'), ctx(LAST))).toMatchObject({
      action: 'fail',
      error: { code: 'engine_lost', retryable: true },
    });
  });

  it('fails at once on an error retrying cannot fix, with its code; retryable shows whether to resubmit', () => {
    const refused = new ModerationError('refused', 'violence');
    expect(decideFailure(refused, ctx())).toEqual({
      action: 'fail',
      error: { code: 'content_policy_violation', message: 'refused', retryable: false },
    });
    const resubmittable = new AppError('model_busy', 'try later', { retryable: false, resubmittable: true });
    expect(decideFailure(resubmittable, ctx())).toEqual({
      action: 'fail',
      error: { code: 'model_busy', message: 'try later', retryable: true },
    });
  });

  it('retries a transient error, and fails with it on the last attempt', () => {
    const err = new StorageError('S3 did not answer');
    expect(decideFailure(err, ctx({ attemptsMade: 3 }))).toEqual({ action: 'retry', engineCrash: false });
    expect(decideFailure(err, ctx(LAST))).toEqual({
      action: 'fail',
      error: { code: 'storage_unavailable', message: 'S3 did not answer', retryable: true },
    });
  });

  it('retries an unknown error, and fails as generation_failed on the last attempt', () => {
    expect(decideFailure(new TypeError('oops'), ctx())).toEqual({ action: 'retry', engineCrash: false });
    expect(decideFailure(new TypeError('oops'), ctx(LAST))).toEqual({
      action: 'fail',
      error: { code: 'generation_failed', message: 'oops', retryable: true },
    });
    expect(decideFailure('a string', ctx(LAST))).toEqual({
      action: 'fail',
      error: { code: 'generation_failed', message: 'generation failed', retryable: true },
    });
  });
});
