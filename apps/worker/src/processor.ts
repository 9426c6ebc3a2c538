import {
  CanceledError,
  JobTimeoutError,
  WorkerCrashedError,
  type JobModel,
  type JobRecord,
  type JobStage,
} from '@imagegen/contracts';
import type { EngineStage, PreviewHooks } from '@imagegen/engine';
import { EXPIRED_ERROR, type ConsumedJob, type JobPreviews, type JobRepository } from '@imagegen/jobs';
import type { Logger, Metrics } from '@imagegen/observability';
import type { PromptModerator, Upsampler } from '@imagegen/prompt';

import type { EngineHost } from './engine-host.js';
import { decideFailure } from './failure-policy.js';
import { preparePrompt } from './prompt-stage.js';

/** What the processor needs of the object store. */
export interface ImageStore {
  put(key: string, body: Buffer, contentType: string, options?: { signal?: AbortSignal }): Promise<unknown>;
  delete(keys: string[]): Promise<void>;
}

export interface ProcessorDeps {
  /** The engine host, or the batcher in front of it (BATCH_MAX > 1). */
  engine: Pick<EngineHost, 'generate'>;
  /**
   * With a batcher: the engine host itself. A job whose earlier run died under it (a stall, an engine
   * crash) runs alone, so a poison job takes down only itself when it is tried again, and the other jobs of
   * the batch it killed are not counted a crash again.
   */
  soloEngine?: Pick<EngineHost, 'generate'> | undefined;
  jobs: JobRepository;
  storage: ImageStore;
  metrics: Metrics;
  logger: Logger;
  upsampler: Upsampler;
  moderator: PromptModerator;
  jobTimeoutMs: number;
  /**
   * How long past the job timeout a generation may still run before its calls fail outright (the engine's
   * abort grace plus a margin): bounds what an abort cannot stop, such as a hung sharp resize or encode.
   */
  deadlineSlackMs: number;
  /** Worker and engine deaths a job may cause before it ends `failed` (worker_crashed). */
  maxCrashes: number;
  /** host:pid, recorded on the job. */
  workerName: string;
  /**
   * Live previews (PREVIEW_EVERY_STEPS): made only while some event stream wants the job's previews, at
   * most every `everySteps` steps and twice a second, and published on the job's preview channel. Absent
   * or `everySteps` 0: none.
   */
  previews?: { everySteps: number; channel: Pick<JobPreviews, 'wanted' | 'publish'> } | undefined;
  /** The model the engine runs, recorded on every job it makes an image for. */
  model?: JobModel;
}

/** The job's progress (0..1) at a denoising step: generating spans 0..0.85, the stages after it the rest. */
const generatingProgress = (step: number, total: number) => 0.85 * (step / total);

/** How often, at most, a running job's worker asks Redis whether anyone watches its previews. */
const PREVIEW_INTEREST_CHECK_MS = 1000;

const STAGE: Record<EngineStage, JobStage> = {
  generating: 'generating',
  upscaling: 'upscaling',
  safety_check: 'safety_check',
  encoding: 'storing',
};

/**
 * How a job's attempt ended for BullMQ: `done` (succeeded, or nothing left to do: canceled, moderated,
 * expired, already settled) or `failed` (the record says `failed`; BullMQ keeps it among its failed jobs
 * and does not retry it).
 */
export type AttemptOutcome = 'done' | 'failed';

/**
 * The generation job handler. It resolves once the job record is settled, and rejects only when BullMQ
 * should try again (the record stays `processing`).
 */
export class GenerationProcessor {
  /** Abort controllers of the jobs running in this process, for cross-process cancel requests. */
  private readonly running = new Map<string, AbortController>();
  /** Marks "someone watches" on the preview hooks of the jobs generating here. */
  private readonly previewWatch = new Map<string, () => void>();

  constructor(private readonly deps: ProcessorDeps) {}

  /** The outcome field naming the model, when the worker knows it. */
  private modelField(): { model?: JobModel } {
    return this.deps.model ? { model: this.deps.model } : {};
  }

  /** Called for every id announced on the cancel channel. */
  cancel(jobId: string): void {
    this.running.get(jobId)?.abort(new CanceledError());
  }

  /** Called for every id announced on the preview watch channel: previews from the job's next step. */
  previewsWatched(jobId: string): void {
    this.previewWatch.get(jobId)?.();
  }

  get busy(): number {
    return this.running.size;
  }

  /**
   * Records, for every job still running here, that this worker is giving it up at shutdown (its coming
   * stall then does not count against the job as a crash). Called before a forced close.
   */
  async abandonRunning(): Promise<void> {
    await Promise.allSettled([...this.running.keys()].map((id) => this.deps.jobs.countShutdownAbandon(id)));
  }

  async process(job: ConsumedJob<'generate'>): Promise<AttemptOutcome> {
    const { jobs, metrics } = this.deps;
    const { id, keyId } = job.data;
    const log = this.deps.logger.child({ jobId: id, attempt: job.attemptsMade + 1 });
    const before = await jobs.get(id);
    if (!before) {
      log.warn('job record missing; dropping');
      return 'done';
    }
    if (before.status === 'queued' && Date.now() > before.deadlineAt) {
      const r = await jobs.finish(id, keyId, 'expired', { error: EXPIRED_ERROR }, { onlyFrom: 'queued' });
      if (r.kind === 'done') metrics.jobsFinished.inc({ outcome: 'expired' });
      return 'done';
    }
    // A job whose worker died under it too often (native crash, OOM kill) is not run again. Stalls a
    // shutting-down worker caused by giving its jobs up are the deployment's, not the job's.
    const crashes = Math.max(0, job.stalledCounter - before.shutdownAbandons) + before.engineCrashes;
    if (crashes > this.deps.maxCrashes) {
      return this.settle(before, 'failed', { error: toFailure(new WorkerCrashedError(crashes)) });
    }
    const started = await jobs.start(id, job.attemptsMade + 1 + job.stalledCounter, this.deps.workerName);
    if (started.kind === 'cancel_requested') return this.settle(before, 'canceled', {});
    if (started.kind !== 'started') {
      log.info({ outcome: started.kind }, 'job already settled; skipping');
      return 'done';
    }
    const controller = new AbortController();
    this.running.set(id, controller);
    const timeout = setTimeout(
      () => controller.abort(new JobTimeoutError(this.deps.jobTimeoutMs)),
      this.deps.jobTimeoutMs,
    );
    metrics.workerBusy.set(this.running.size);
    try {
      const record = await jobs.get(id);
      if (!record) return 'done';
      // A cancel that arrived between start() and registering the controller.
      if (record.cancelRequested) this.cancel(id);
      const engine = crashes > 0 && this.deps.soloEngine ? this.deps.soloEngine : this.deps.engine;
      await this.generate(engine, record, job.data.objectKey, controller.signal, log);
      return 'done';
    } catch (err) {
      return await this.fail(before, job, crashes, err, controller.signal, log);
    } finally {
      clearTimeout(timeout);
      this.running.delete(id);
      metrics.workerBusy.set(this.running.size);
    }
  }

  private async generate(
    engine: Pick<EngineHost, 'generate'>,
    record: JobRecord,
    objectKey: string,
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    const { jobs, storage, metrics } = this.deps;
    const id = record.id;
    const prompt = await preparePrompt(this.deps, record, log);
    if (prompt === null) return;
    let lastProgress = 0;
    const stageStart = { t: performance.now(), stage: 'analyzing' as JobStage };
    const onStage = (s: EngineStage) => {
      metrics.stageDuration.observe({ stage: stageStart.stage }, (performance.now() - stageStart.t) / 1000);
      stageStart.t = performance.now();
      stageStart.stage = STAGE[s];
      void jobs.progress(id, STAGE[s], null, null, s === 'generating' ? 0 : 0.9).catch(() => undefined);
    };
    const previews = await this.previewHooks(id);
    const deadlineAt = Date.now() + this.deps.jobTimeoutMs + this.deps.deadlineSlackMs;
    const result = await engine
      .generate(
        {
          prompt,
          aspectRatio: record.input.aspect_ratio,
          seed: record.input.seed,
          format: record.input.output_format,
          safetyTolerance: record.input.safety_tolerance,
        },
        {
          signal,
          deadlineAt,
          onStage,
          onStep: (step, total) => {
            const now = performance.now();
            // At most ~10 progress writes a second per job, and always the last step.
            if (step === total || now - lastProgress > 100) {
              lastProgress = now;
              void jobs
                .progress(id, 'generating', step, total, generatingProgress(step, total))
                .catch(() => undefined);
            }
          },
          ...(previews ? { previews } : {}),
        },
      )
      .finally(() => this.previewWatch.delete(id));
    const t = result.timings;
    const timings: Record<string, number> = {
      generate: Math.round(t.tokenize + t.textEncode + t.unet + t.vae),
      upscale: Math.round(t.upscale),
      safety: Math.round(t.safety),
      encode: Math.round(t.encode),
    };
    if (result.safety.flagged) {
      // Nothing is stored: the image never leaves this process.
      await this.settle(record, 'moderated', {
        timings,
        error: {
          code: 'content_moderated',
          message:
            'the generated image did not pass the image safety check; change the prompt, or raise safety_tolerance where that is appropriate',
          retryable: false,
        },
        moderation: { stage: 'output', category: result.safety.category ?? 'adult' },
        ...this.modelField(),
      });
      return;
    }
    if (signal.aborted) throw signal.reason;
    onStage('encoding');
    const s0 = performance.now();
    await storage.put(objectKey, result.image, result.mimeType, { signal });
    timings['store'] = Math.round(performance.now() - s0);
    metrics.stageDuration.observe({ stage: 'storing' }, (performance.now() - s0) / 1000);
    const outcome = await jobs.finish(id, record.keyId, 'succeeded', {
      ...this.modelField(),
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
    } else if (outcome.kind === 'settled' && outcome.status !== 'succeeded') {
      // Canceled while uploading: the object is not referenced by any job. A job another attempt already
      // finished as succeeded (this worker was cut off past its lock) references this very key: its image
      // stays.
      await storage.delete([objectKey]).catch(() => undefined);
    }
  }

  /**
   * The engine's preview hooks for one job, or undefined when previews are off. Whether anyone watches is
   * read from Redis once before the generation and then at most once a second, never on the step's path
   * (a failed read counts as nobody); a stream's announcement (`previewsWatched`) turns previews on at once.
   */
  private async previewHooks(id: string): Promise<PreviewHooks | undefined> {
    const config = this.deps.previews;
    if (!config || config.everySteps <= 0) return undefined;
    const { channel } = config;
    // `wanted` is what the last look at the watch key said, or true since a watch announcement; a look
    // that started before an announcement cannot undo it.
    let wanted = false;
    let announcedAt = -Infinity;
    let checkedAt = performance.now();
    let checking = false;
    const look = () => {
      const started = performance.now();
      // Bounded: the worker's Redis connection waits out an outage, and a job never waits for a preview.
      let bound: NodeJS.Timeout | undefined;
      return Promise.race([
        channel.wanted(id).catch(() => false),
        new Promise<boolean>((r) => (bound = setTimeout(() => r(false), PREVIEW_INTEREST_CHECK_MS))),
      ]).then((w) => {
        clearTimeout(bound);
        if (announcedAt < started) wanted = w;
      });
    };
    this.previewWatch.set(id, () => {
      wanted = true;
      announcedAt = performance.now();
    });
    await look();
    return {
      everySteps: config.everySteps,
      wanted: () => {
        if (!checking && performance.now() - checkedAt >= PREVIEW_INTEREST_CHECK_MS) {
          checking = true;
          checkedAt = performance.now();
          void look().finally(() => (checking = false));
        }
        return wanted;
      },
      onPreview: (p) => {
        void channel
          .publish(id, {
            step: p.step,
            total: p.total,
            progress: generatingProgress(p.step, p.total),
            width: p.width,
            height: p.height,
            jpeg: p.jpeg.toString('base64'),
          })
          .catch(() => undefined);
      },
    };
  }

  /** Settles the record for a failure, or rethrows what BullMQ should retry. */
  private async fail(
    record: JobRecord,
    job: ConsumedJob<'generate'>,
    crashes: number,
    err: unknown,
    signal: AbortSignal,
    log: Logger,
  ): Promise<AttemptOutcome> {
    const decision = decideFailure(err, {
      abortReason: signal.aborted ? signal.reason : undefined,
      attemptsMade: job.attemptsMade,
      maxAttempts: job.maxAttempts,
      crashes,
      maxCrashes: this.deps.maxCrashes,
    });
    switch (decision.action) {
      case 'cancel':
        return this.settle(record, 'canceled', {});
      case 'fail':
        log.error({ err, code: decision.error.code }, 'generation failed');
        return this.settle(record, 'failed', { error: decision.error });
      case 'retry':
        if (decision.engineCrash) await this.deps.jobs.countEngineCrash(record.id);
        log.warn({ err, engineCrash: decision.engineCrash }, 'generation failed; BullMQ retries it');
        throw err instanceof Error ? err : new Error(String(err));
    }
  }

  private async settle(
    record: JobRecord,
    status: 'failed' | 'canceled' | 'moderated',
    data: Parameters<JobRepository['finish']>[3],
  ): Promise<AttemptOutcome> {
    const r = await this.deps.jobs.finish(record.id, record.keyId, status, data);
    if (r.kind === 'done') this.deps.metrics.jobsFinished.inc({ outcome: status });
    return status === 'failed' ? 'failed' : 'done';
  }
}

const toFailure = (e: WorkerCrashedError) => ({
  code: e.code,
  message: e.message,
  retryable: e.resubmittable,
});
