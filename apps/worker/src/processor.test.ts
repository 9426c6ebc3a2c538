import { afterEach, describe, expect, it, vi } from 'vitest';

import { AppError, EngineLostError, StorageError, type PreviewMessage } from '@imagegen/contracts';
import type { GenerateHooks, GenerateInput } from '@imagegen/engine';
import type { ConsumedJob } from '@imagegen/jobs';
import { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createMetrics } from '@imagegen/observability';
import { createModerator, createUpsampler } from '@imagegen/prompt';

import {
  FAKE_IMAGE,
  FakeEngine,
  FakeImageStore,
  seedJob,
  silentLogger,
} from '../../../test/support/fakes.js';
import { GenerationProcessor, type ProcessorDeps } from './processor.js';

afterEach(() => {
  vi.useRealTimers();
});

const JOB_TIMEOUT_MS = 300_000;

function world(over: Partial<ProcessorDeps> = {}) {
  const jobs = new MemoryJobRepository();
  const engine = new FakeEngine();
  const storage = new FakeImageStore();
  const processor = new GenerationProcessor({
    engine,
    jobs,
    storage,
    metrics: createMetrics('worker'),
    logger: silentLogger(),
    upsampler: createUpsampler({ kind: 'rules' }),
    moderator: createModerator(null),
    jobTimeoutMs: JOB_TIMEOUT_MS,
    deadlineSlackMs: 3000,
    maxCrashes: 2,
    workerName: 'host:1',
    ...over,
  });
  return { jobs, engine, storage, processor };
}

/** The BullMQ job of a submitted record (first attempt unless told otherwise). */
const consumed = (
  job: { id: string; keyId: string; objectKey: string },
  over: Partial<ConsumedJob<'generate'>> = {},
): ConsumedJob<'generate'> => ({
  id: job.id,
  data: { id: job.id, keyId: job.keyId, objectKey: job.objectKey },
  attemptsMade: 0,
  stalledCounter: 0,
  maxAttempts: 5,
  defer: () => Promise.reject(new Error('this test does not defer')),
  ...over,
});

describe('GenerationProcessor', () => {
  it('generates, stores the image under the job’s object key and ends the job succeeded', async () => {
    const { jobs, engine, storage, processor } = world();
    const job = await seedJob(jobs);
    expect(await processor.process(consumed(job))).toBe('done');
    const r = (await jobs.get(job.id))!;
    expect(r).toMatchObject({
      status: 'succeeded',
      progress: 1,
      attempt: 1,
      worker: 'host:1',
      error: null,
      image: {
        key: job.objectKey,
        bytes: FAKE_IMAGE.length,
        width: 64,
        height: 64,
        format: 'jpeg',
        revised_prompt: null,
      },
    });
    expect(Object.keys(r.timings).sort()).toEqual(['encode', 'generate', 'safety', 'store', 'upscale']);
    expect(r.timings['generate']).toBe(16);
    expect(storage.objects.get(job.objectKey)).toEqual({ body: FAKE_IMAGE, contentType: 'image/jpeg' });
    expect(engine.calls).toEqual([
      { prompt: 'a red cube on a table', aspectRatio: '1:1', seed: 7, format: 'jpeg', safetyTolerance: 2 },
    ]);
    const types = (await jobs.read(job.id)).map((e) => e.type);
    expect(types[0]).toBe('queued');
    expect(types[1]).toBe('started');
    expect(types).toContain('progress');
    expect(types.at(-1)).toBe('completed');
    expect(processor.busy).toBe(0);
  });

  it('generates from the revised prompt when prompt_upsampling is on, and keeps it for retries', async () => {
    const { jobs, engine, processor } = world();
    const job = await seedJob(jobs, {
      input: {
        prompt: 'a cat',
        aspect_ratio: '16:9',
        output_format: 'png',
        seed: 3,
        prompt_upsampling: true,
        safety_tolerance: 2,
      },
    });
    await processor.process(consumed(job));
    const r = (await jobs.get(job.id))!;
    expect(r.status).toBe('succeeded');
    expect(r.revisedPrompt).not.toBeNull();
    expect(r.revisedPrompt).not.toBe('a cat');
    expect(engine.calls[0]!.prompt).toBe(r.revisedPrompt);
    expect(r.image).toMatchObject({ format: 'png', width: 96, revised_prompt: r.revisedPrompt });
  });

  it('ends as moderated, before generating, a job whose revised prompt the policy refuses', async () => {
    const { jobs, engine, processor } = world({
      upsampler: {
        upsample: () => Promise.resolve({ prompt: 'decapitated head on a spike', source: 'llm' }),
      },
    });
    const job = await seedJob(jobs, {
      input: {
        prompt: 'a knight',
        aspect_ratio: '1:1',
        output_format: 'jpeg',
        seed: 3,
        prompt_upsampling: true,
        safety_tolerance: 2,
      },
    });
    await processor.process(consumed(job));
    expect(await jobs.get(job.id)).toMatchObject({
      status: 'moderated',
      error: { code: 'content_policy_violation', retryable: false },
      moderation: { stage: 'input', category: 'violence' },
    });
    expect(engine.calls).toEqual([]);
  });

  it('ends a job whose image fails the safety check as moderated in its policy category, storing nothing', async () => {
    const { jobs, engine, storage, processor } = world();
    engine.mode = { kind: 'ok', flagged: 'nsfw' };
    const job = await seedJob(jobs);
    await processor.process(consumed(job));
    expect(await jobs.get(job.id)).toMatchObject({
      status: 'moderated',
      image: null,
      error: { code: 'content_moderated', retryable: false },
      moderation: { stage: 'output', category: 'adult' },
    });
    expect(storage.objects.size).toBe(0);
  });

  it('stops a generation canceled mid-way and ends the job canceled', async () => {
    const { jobs, engine, storage, processor } = world();
    engine.mode = { kind: 'hang' };
    const job = await seedJob(jobs);
    const running = processor.process(consumed(job));
    await engine.generating();
    expect(processor.busy).toBe(1);
    processor.cancel(job.id);
    await running;
    expect(await jobs.get(job.id)).toMatchObject({ status: 'canceled', error: null, image: null });
    expect(storage.objects.size).toBe(0);
    expect(processor.busy).toBe(0);
  });

  it('runs a job again alone, past the batcher, once a run died under it', async () => {
    const solo = new FakeEngine();
    const { jobs, engine, processor } = world({ soloEngine: solo });
    const fresh = await seedJob(jobs);
    expect(await processor.process(consumed(fresh))).toBe('done');
    const crashed = await seedJob(jobs);
    await jobs.start(crashed.id, 1, 'host:dead');
    expect(await processor.process(consumed(crashed, { stalledCounter: 1 }))).toBe('done');
    expect(engine.calls.length).toBe(1);
    expect(solo.calls.length).toBe(1);
    expect((await jobs.get(crashed.id))!.status).toBe('succeeded');
  });

  it('ends as canceled, without generating, a job whose cancel came while its last worker died', async () => {
    const { jobs, engine, processor } = world();
    const job = await seedJob(jobs);
    await jobs.start(job.id, 1, 'host:dead');
    await jobs.requestCancel(job.id);
    expect(await processor.process(consumed(job, { stalledCounter: 1 }))).toBe('done');
    expect((await jobs.get(job.id))!.status).toBe('canceled');
    expect(engine.calls).toEqual([]);
  });

  it('fails a job that runs past the job timeout (the client may resubmit it)', async () => {
    vi.useFakeTimers();
    const { jobs, engine, processor } = world();
    engine.mode = { kind: 'hang' };
    const job = await seedJob(jobs);
    const running = processor.process(consumed(job));
    await engine.generating();
    await vi.advanceTimersByTimeAsync(JOB_TIMEOUT_MS);
    // Failed for good: BullMQ keeps it among its failed jobs and does not retry it.
    expect(await running).toBe('failed');
    expect(await jobs.get(job.id)).toMatchObject({
      status: 'failed',
      error: { code: 'timeout', retryable: true },
    });
  });

  it('hands a job whose engine died back to BullMQ, counting the crash on the record', async () => {
    const { jobs, engine, processor } = world();
    engine.mode = { kind: 'die' };
    const job = await seedJob(jobs);
    await expect(processor.process(consumed(job))).rejects.toBeInstanceOf(EngineLostError);
    expect(await jobs.get(job.id)).toMatchObject({ status: 'processing', engineCrashes: 1, error: null });
    expect(engine.alive).toBe(false);
  });

  it('fails as worker_crashed, without generating, a job that already took too many workers down', async () => {
    const { jobs, engine, processor } = world();
    const job = await seedJob(jobs);
    await jobs.countEngineCrash(job.id);
    await jobs.countEngineCrash(job.id);
    // Two engine deaths and one worker-process death: more than maxCrashes (2).
    expect(await processor.process(consumed(job, { attemptsMade: 2, stalledCounter: 1 }))).toBe('failed');
    expect(await jobs.get(job.id)).toMatchObject({
      status: 'failed',
      error: { code: 'worker_crashed', retryable: false },
    });
    expect(engine.calls).toEqual([]);
  });

  it('does not count stalls that a shutting-down worker caused as the job’s crashes', async () => {
    const { jobs, engine, processor } = world();
    const job = await seedJob(jobs);
    // Three stalls, two of them from deployments that gave the job up past WORKER_SHUTDOWN_MS.
    await jobs.countShutdownAbandon(job.id);
    await jobs.countShutdownAbandon(job.id);
    expect(await processor.process(consumed(job, { stalledCounter: 3 }))).toBe('done');
    expect((await jobs.get(job.id))!.status).toBe('succeeded');
    expect(engine.calls).toHaveLength(1);
  });

  it('marks the jobs it runs as given up when its worker shuts down', async () => {
    const { jobs, engine, processor } = world();
    engine.mode = { kind: 'hang' };
    const job = await seedJob(jobs);
    const running = processor.process(consumed(job));
    await engine.generating();
    await processor.abandonRunning();
    expect((await jobs.get(job.id))!.shutdownAbandons).toBe(1);
    processor.cancel(job.id);
    await running;
  });

  it('fails at once on an engine error that retrying cannot fix', async () => {
    const { jobs, engine, processor } = world();
    engine.mode = {
      kind: 'throw',
      // As the engine's EngineError('invalid_argument', …): not retryable.
      error: new AppError('invalid_argument', 'steps must be at least 1', { retryable: false }),
    };
    const job = await seedJob(jobs);
    await processor.process(consumed(job));
    expect(await jobs.get(job.id)).toMatchObject({
      status: 'failed',
      error: { code: 'invalid_argument', message: 'steps must be at least 1', retryable: false },
    });
  });

  it('retries a transient failure, and fails the job with it on the last attempt', async () => {
    const { jobs, storage, processor } = world();
    storage.failWith = new StorageError('S3 did not answer');
    const job = await seedJob(jobs);
    await expect(processor.process(consumed(job))).rejects.toBeInstanceOf(StorageError);
    expect((await jobs.get(job.id))!.status).toBe('processing');
    expect(await processor.process(consumed(job, { attemptsMade: 4 }))).toBe('failed');
    expect(await jobs.get(job.id)).toMatchObject({
      status: 'failed',
      attempt: 5,
      error: { code: 'storage_unavailable', retryable: true },
    });
  });

  it('skips a job that has already ended', async () => {
    const { jobs, engine, processor } = world();
    const job = await seedJob(jobs);
    await jobs.finish(job.id, job.keyId, 'canceled', {});
    await processor.process(consumed(job));
    expect((await jobs.get(job.id))!.status).toBe('canceled');
    expect(engine.calls).toEqual([]);
  });

  it('keeps the image of a job another attempt finished while this one uploaded; deletes it after a cancel', async () => {
    for (const [ending, kept] of [
      ['succeeded', true],
      ['canceled', false],
    ] as const) {
      const { jobs, storage, processor } = world();
      const job = await seedJob(jobs);
      // This worker was cut off past its lock: another attempt (same object key) ends the job while this
      // one uploads; this one's finish then finds the job settled.
      const put = storage.put.bind(storage);
      storage.put = async (key, body, contentType) => {
        const r = await put(key, body, contentType);
        await jobs.finish(job.id, job.keyId, ending, {});
        return r;
      };
      await processor.process(consumed(job));
      expect((await jobs.get(job.id))!.status).toBe(ending);
      expect(storage.objects.has(job.objectKey)).toBe(kept);
    }
  });

  it('drops a job whose record is gone', async () => {
    const { engine, processor } = world();
    await processor.process(consumed({ id: 'gen_gone', keyId: 'key1', objectKey: 'images/x.jpg' }));
    expect(engine.calls).toEqual([]);
  });

  it('ends as expired a job that waited past its queue deadline, without generating', async () => {
    const { jobs, engine, processor } = world();
    const job = await seedJob(jobs, { deadlineAt: Date.now() - 1 });
    await processor.process(consumed(job));
    expect(await jobs.get(job.id)).toMatchObject({
      status: 'expired',
      error: { code: 'expired', retryable: true },
    });
    expect(engine.calls).toEqual([]);
  });

  describe('live previews', () => {
    /** A processor whose engine runs `during` with the generation's hooks, then the fake's generation. */
    function previewWorld(wantedNow: boolean, everySteps: number, during: (hooks: GenerateHooks) => void) {
      const published: PreviewMessage[] = [];
      const looks: string[] = [];
      const channel = {
        wanted: (id: string) => {
          looks.push(id);
          return Promise.resolve(wantedNow);
        },
        publish: (_id: string, p: PreviewMessage) => {
          published.push(p);
          return Promise.resolve();
        },
      };
      const fake = new FakeEngine();
      const w = world({
        engine: {
          generate: (input: GenerateInput, hooks: GenerateHooks) => {
            during(hooks);
            return fake.generate(input, hooks);
          },
        },
        previews: { everySteps, channel },
      });
      return { ...w, published, looks };
    }
    const preview = { step: 5, total: 30, jpeg: Buffer.from('jpeg bytes'), width: 64, height: 48 } as const;

    it('asks the engine for previews every PREVIEW_EVERY_STEPS steps and publishes each one, never storing it', async () => {
      let seen: GenerateHooks['previews'];
      const w = previewWorld(true, 5, (hooks) => {
        seen = hooks.previews;
        hooks.previews?.onPreview({ ...preview, source: 'vae_decode', ms: 3 });
      });
      const job = await seedJob(w.jobs);
      expect(await w.processor.process(consumed(job))).toBe('done');
      expect(seen?.everySteps).toBe(5);
      expect(seen?.wanted?.()).toBe(true);
      expect(w.looks).toEqual([job.id]);
      expect(w.published).toEqual([
        {
          step: 5,
          total: 30,
          progress: 0.85 * (5 / 30),
          width: 64,
          height: 48,
          jpeg: Buffer.from('jpeg bytes').toString('base64'),
        },
      ]);
      expect(JSON.stringify(await w.jobs.get(job.id))).not.toContain(w.published[0]!.jpeg);
    });

    it('wants none until a stream announces it watches the job, then at once', async () => {
      const answers: (boolean | undefined)[] = [];
      // The processor and job id, once they exist (the engine runs after both).
      const ref = { id: '', processor: null as GenerationProcessor | null };
      const w = previewWorld(false, 5, (hooks) => {
        answers.push(hooks.previews?.wanted?.());
        ref.processor?.previewsWatched('gen_someoneelse');
        answers.push(hooks.previews?.wanted?.());
        ref.processor?.previewsWatched(ref.id);
        answers.push(hooks.previews?.wanted?.());
      });
      ref.processor = w.processor;
      const job = await seedJob(w.jobs);
      ref.id = job.id;
      await w.processor.process(consumed(job));
      expect(answers).toEqual([false, false, true]);
    });

    it('asks for none when PREVIEW_EVERY_STEPS is 0, and never looks at Redis', async () => {
      let hooks: GenerateHooks | undefined;
      const w = previewWorld(true, 0, (h) => (hooks = h));
      const job = await seedJob(w.jobs);
      await w.processor.process(consumed(job));
      expect(hooks?.previews).toBeUndefined();
      expect(w.looks).toEqual([]);
    });
  });
});
