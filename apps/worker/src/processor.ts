import { UnrecoverableError, type Job } from 'bullmq';

import type { JobStage } from '@imagegen/contracts';
import { EngineError, type Engine, type EngineStage } from '@imagegen/engine';
import type { Logger, Metrics } from '@imagegen/observability';
import { refusalMessage, type PromptModerator, type Upsampler } from '@imagegen/prompt';
import { EXPIRED_ERROR, type GenerationPayload, type JobRecord, type JobStore } from '@imagegen/jobs';
import type { ObjectStore } from '@imagegen/storage';

export interface ProcessorDeps {
  engine: Engine;
  jobs: JobStore;
  storage: ObjectStore;
  metrics: Metrics;
  logger: Logger;
  /** prompt_upsampling: rewrites the prompt (rule engine or an LLM endpoint). */
  upsampler: Upsampler;
  /** Moderation of the revised prompt: the word lists, plus a moderation model when configured. */
  moderator: PromptModerator;
  jobTimeoutMs: number;
  /** BullMQ attempts per job (transient failures are retried until then). */
  maxAttempts: number;
  /** Called once the engine thread has died: this process can no longer generate anything. */
  onEngineLost: () => void;
}

const STAGE: Record<EngineStage, JobStage> = {
  generating: 'generating',
  upscaling: 'upscaling',
  safety_check: 'safety_check',
  encoding: 'storing',
};

/**
 * The generation job handler. Every exit path leaves the job record in a definite state: terminal on
 * success, moderation, cancellation, timeout and permanent errors; unchanged (still processing) on a
 * transient error that BullMQ will retry.
 */
export class GenerationProcessor {
  /** Abort controllers of the jobs running in this process, for cross-process cancel requests. */
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly deps: ProcessorDeps) {}

  /** Called for every id announced on the cancel channel. */
  cancel(jobId: string): void {
    this.running.get(jobId)?.abort(new EngineError('canceled', 'canceled by the client'));
  }

  get busy(): number {
    return this.running.size;
  }

  async process(job: Job<GenerationPayload>): Promise<void> {
    const { jobs, engine, storage, metrics, logger } = this.deps;
    const { id, keyId, objectKey } = job.data;
    const log = logger.child({ jobId: id, attempt: job.attemptsMade + 1 });
    const before = await jobs.get(id);
    if (!before) {
      log.warn('job record missing; dropping');
      return;
    }
    if (before.status === 'queued' && Date.now() > before.deadlineAt) {
      await jobs.finish(id, keyId, 'expired', { error: EXPIRED_ERROR }, { onlyFrom: 'queued' });
      metrics.jobsFinished.inc({ outcome: 'expired' });
      return;
    }
    const started = await jobs.start(id, job.attemptsMade + 1 + job.stalledCounter);
    if (started === 'cancel') {
      await this.finishCanceled(id, keyId);
      return;
    }
    if (started !== 'started') {
      log.info({ status: started }, 'job already settled; skipping');
      return;
    }
    const controller = new AbortController();
    this.running.set(id, controller);
    const timeout = setTimeout(
      () =>
        controller.abort(
          new EngineError('canceled', `the job exceeded JOB_TIMEOUT_MS (${this.deps.jobTimeoutMs} ms)`),
        ),
      this.deps.jobTimeoutMs,
    );
    metrics.workerBusy.set(this.running.size);
    const record = (await jobs.get(id))!;
    // A cancel that arrived between start() and registering the controller.
    if (record.cancelRequested) this.cancel(id);
    let lastProgress = 0;
    try {
      const prompt = await this.preparePrompt(record, log);
      if (prompt === null) return;
      const stageStart = { t: performance.now(), stage: 'analyzing' as JobStage };
      const onStage = (s: EngineStage) => {
        metrics.stageDuration.observe({ stage: stageStart.stage }, (performance.now() - stageStart.t) / 1000);
        stageStart.t = performance.now();
        stageStart.stage = STAGE[s];
        void jobs.progress(id, STAGE[s], null, null, s === 'generating' ? 0 : 0.9).catch(() => undefined);
      };
      const result = await engine.generate(
        {
          prompt,
          aspectRatio: record.input.aspect_ratio,
          seed: record.input.seed,
          format: record.input.output_format,
          safetyTolerance: record.input.safety_tolerance,
        },
        {
          signal: controller.signal,
          onStage,
          onStep: (step, total) => {
            const now = performance.now();
            // At most ~10 progress writes a second per job, and always the last step.
            if (step === total || now - lastProgress > 100) {
              lastProgress = now;
              void jobs.progress(id, 'generating', step, total, 0.85 * (step / total)).catch(() => undefined);
            }
          },
        },
      );
      const t = result.timings;
      const timings: Record<string, number> = {
        generate: Math.round(t.tokenize + t.textEncode + t.unet + t.vae),
        upscale: Math.round(t.upscale),
        safety: Math.round(t.safety),
        encode: Math.round(t.encode),
      };
      if (result.safety.flagged) {
        // Nothing is stored: the image never leaves this process.
        await jobs.finish(id, keyId, 'moderated', {
          timings,
          error: {
            code: 'content_moderated',
            message:
              'the generated image did not pass the image safety check; change the prompt, or raise safety_tolerance where that is appropriate',
            retryable: false,
          },
          moderation: { stage: 'output', category: result.safety.label },
        });
        metrics.jobsFinished.inc({ outcome: 'moderated' });
        return;
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      onStage('encoding');
      const s0 = performance.now();
      await storage.put(objectKey, result.image, result.mimeType);
      timings['store'] = Math.round(performance.now() - s0);
      metrics.stageDuration.observe({ stage: 'storing' }, (performance.now() - s0) / 1000);
      const outcome = await jobs.finish(id, keyId, 'succeeded', {
        timings,
        image: {
          key: objectKey,
          bytes: result.image.length,
          width: result.width,
          height: result.height,
          format: record.input.output_format,
          revised_prompt: prompt === record.input.prompt ? null : prompt,
        },
      });
      if (outcome.kind === 'done') {
        metrics.jobsFinished.inc({ outcome: 'succeeded' });
        metrics.jobDuration.observe({ outcome: 'succeeded' }, (Date.now() - record.createdAt) / 1000);
        log.info({ ms: timings }, 'job succeeded');
      } else if (outcome.kind === 'already') {
        // Canceled while uploading: the object is not referenced by any job.
        await storage.delete([objectKey]).catch(() => undefined);
      }
    } catch (e) {
      await this.fail(job, e, controller.signal);
    } finally {
      clearTimeout(timeout);
      this.running.delete(id);
      metrics.workerBusy.set(this.running.size);
    }
  }

  /**
   * The prompt to generate from. With prompt_upsampling, the revised prompt — kept on the record so a
   * retry reuses it (an LLM need not answer twice the same) — and moderated again, together with the
   * original: a refused revision ends the job as `moderated` before any GPU time is spent. Null when
   * the job has ended here.
   */
  private async preparePrompt(record: JobRecord, log: Logger): Promise<string | null> {
    const { jobs, upsampler, moderator, metrics } = this.deps;
    const { prompt, seed, safety_tolerance: tolerance } = record.input;
    if (!record.input.prompt_upsampling) return prompt;
    let revised = record.revisedPrompt;
    if (revised === null) {
      const up = await upsampler.upsample(prompt, seed);
      if (up.fallback_reason)
        log.warn({ reason: up.fallback_reason }, 'LLM upsampler failed; used the rules');
      revised = up.prompt;
    }
    const verdict = await moderator.moderate([prompt, revised], tolerance);
    if (verdict.classifier_error) metrics.moderationErrors.inc({ reason: verdict.classifier_error });
    if (!verdict.allowed && verdict.category) {
      metrics.promptsRefused.inc({ category: verdict.category, stage: 'revised' });
      const r = await jobs.finish(record.id, record.keyId, 'moderated', {
        error: {
          code: 'content_policy_violation',
          message: refusalMessage(verdict.category),
          retryable: false,
        },
        moderation: { stage: 'input', category: verdict.category },
      });
      if (r.kind === 'done') metrics.jobsFinished.inc({ outcome: 'moderated' });
      return null;
    }
    await jobs.setRevisedPrompt(record.id, revised);
    return revised;
  }

  private async finishCanceled(id: string, keyId: string): Promise<void> {
    const r = await this.deps.jobs.finish(id, keyId, 'canceled', {});
    if (r.kind === 'done') this.deps.metrics.jobsFinished.inc({ outcome: 'canceled' });
  }

  /** Settles the record for a failure, then rethrows what BullMQ should see (retry or not). */
  private async fail(job: Job<GenerationPayload>, e: unknown, signal: AbortSignal): Promise<never> {
    const { jobs, metrics, logger } = this.deps;
    const { id, keyId } = job.data;
    if (e instanceof EngineError && e.code === 'canceled') {
      const reason = signal.reason as EngineError | undefined;
      if (reason?.message.startsWith('the job exceeded')) {
        await jobs.finish(id, keyId, 'failed', {
          error: { code: 'timeout', message: reason.message, retryable: true },
        });
        metrics.jobsFinished.inc({ outcome: 'failed' });
        throw new UnrecoverableError(reason.message);
      }
      await this.finishCanceled(id, keyId);
      throw new UnrecoverableError('canceled');
    }
    if (
      e instanceof EngineError &&
      e.code === 'runtime_failure' &&
      /engine (thread|is closed)/.test(e.message)
    ) {
      // The job goes back to BullMQ for another worker; this one must be replaced.
      this.deps.onEngineLost();
      throw e;
    }
    const permanent = e instanceof EngineError && !e.retryable;
    const lastAttempt = job.attemptsMade + 1 >= this.deps.maxAttempts;
    logger.error({ jobId: id, err: e, permanent, lastAttempt }, 'generation failed');
    if (permanent || lastAttempt) {
      const code = e instanceof EngineError ? e.code : 'generation_failed';
      await jobs.finish(id, keyId, 'failed', {
        error: { code, message: e instanceof Error ? e.message : 'generation failed', retryable: !permanent },
      });
      metrics.jobsFinished.inc({ outcome: 'failed' });
      throw new UnrecoverableError(e instanceof Error ? e.message : String(e));
    }
    throw e instanceof Error ? e : new Error(String(e));
  }
}
