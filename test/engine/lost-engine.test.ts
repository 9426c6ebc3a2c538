import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ABANDONED_EXIT_CODE,
  DeadlineExceededError,
  Engine,
  EngineError,
  EngineLostError,
  type GenerateInput,
} from '@imagegen/engine';

import {
  CRASH_EXIT_CODE,
  CRASH_MARKER,
  CRASHING_ENGINE_THREAD,
  DEAF_MARKER,
  FREEZE_MARKER,
} from '../support/crashing-engine-thread.js';
import { TINY_RANDOM } from './fixtures.js';
import { loopingModel } from './looping-unet.js';

/**
 * Loop iterations of the hung UNet's one run: seconds of CPU here, so its thread is still inside that native
 * run when the test's deadline or abort grace passes, yet the thread ends by itself within the test.
 */
const HANG_TRIPS = 5_000_000;
/** Slack on top of a deadline or grace: the behaviour under test is "ends near it", not a latency. */
const SLACK_MS = 5000;

const INPUT: GenerateInput = { prompt: 'a red circle', aspectRatio: '1:1', seed: 5, format: 'png', steps: 1 };

async function failure(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

/** A new engine on the normal fixture renders a valid image: the process is fine after losing one. */
async function expectFreshEngineRenders(options: Partial<Parameters<typeof Engine.load>[0]> = {}) {
  const fresh = await Engine.load({ modelDir: TINY_RANDOM, ...options });
  try {
    const r = await fresh.generate(INPUT);
    const meta = await sharp(r.image).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', r.width, r.height]);
  } finally {
    await fresh.close();
  }
}

describe('a UNet run that never returns in time', () => {
  let model: ReturnType<typeof loopingModel>;
  beforeAll(() => {
    model = loopingModel(HANG_TRIPS);
  });
  afterAll(() => model.cleanup());

  it('misses its deadline: every pending call rejects with EngineLostError and the engine is dead', async () => {
    const engine = await Engine.load({ modelDir: model.dir });
    try {
      const steps: number[] = [];
      const deadlineAt = Date.now() + 500;
      const hung = failure(engine.generate(INPUT, { deadlineAt, onStep: (s) => steps.push(s) }));
      const queued = failure(engine.generate({ ...INPUT, seed: 6 }));
      const e = await hung;
      expect(Date.now()).toBeLessThan(deadlineAt + SLACK_MS);
      expect(e).toBeInstanceOf(EngineLostError);
      expect((e as EngineLostError).cause).toBeInstanceOf(DeadlineExceededError);
      expect(await queued).toBeInstanceOf(EngineLostError);
      expect(steps).toEqual([]);
      expect(engine.alive).toBe(false);
      expect(await failure(engine.generate(INPUT))).toBeInstanceOf(EngineLostError);

      // While the abandoned thread still spins, the process loads and runs a new engine.
      await expectFreshEngineRenders();
      // The abandoned thread ends itself when its native run returns, instead of running the queued request.
      expect(await engine.exited).toBe(ABANDONED_EXIT_CODE);
    } finally {
      await engine.close();
    }
  });

  it("an abort that the thread cannot see ends the call after the grace with the caller's reason", async () => {
    const engine = await Engine.load({
      modelDir: model.dir,
      abortGraceMs: 300,
      threadEntry: CRASHING_ENGINE_THREAD,
    });
    try {
      const controller = new AbortController();
      const reason = new Error('job timeout');
      // The marker keeps the abort from the thread, which then stays inside the looping UNet run.
      const prompt = `a ${DEAF_MARKER} circle`;
      const run = failure(engine.generate({ ...INPUT, prompt }, { signal: controller.signal }));
      controller.abort(reason);
      const abortedAt = Date.now();
      const e = await run;
      expect(Date.now()).toBeLessThan(abortedAt + 300 + SLACK_MS);
      expect(e).toBeInstanceOf(EngineError);
      expect(e).toMatchObject({ code: 'canceled', cause: reason });
      expect(engine.alive).toBe(false);
      expect(await failure(engine.generate(INPUT))).toBeInstanceOf(EngineLostError);
      expect(await engine.exited).toBe(ABANDONED_EXIT_CODE);
    } finally {
      await engine.close();
    }
  });
});

describe('an engine thread that crashes or freezes', () => {
  it('a crash on a marker prompt rejects with EngineLostError; a new engine serves other prompts', async () => {
    const engine = await Engine.load({ modelDir: TINY_RANDOM, threadEntry: CRASHING_ENGINE_THREAD });
    try {
      expect((await engine.generate(INPUT)).image.length).toBeGreaterThan(0);
      const e = await failure(engine.generate({ ...INPUT, prompt: `a ${CRASH_MARKER} circle` }));
      expect(e).toBeInstanceOf(EngineLostError);
      expect((e as EngineLostError).message).toContain(`exited with code ${CRASH_EXIT_CODE}`);
      expect(engine.alive).toBe(false);
      expect(await engine.exited).toBe(CRASH_EXIT_CODE);
      expect(await failure(engine.generate(INPUT))).toBeInstanceOf(EngineLostError);
    } finally {
      await engine.close();
    }
    await expectFreshEngineRenders({ threadEntry: CRASHING_ENGINE_THREAD });
  });

  it('a thread frozen outside onnxruntime is terminated at the deadline', async () => {
    const engine = await Engine.load({ modelDir: TINY_RANDOM, threadEntry: CRASHING_ENGINE_THREAD });
    try {
      const deadlineAt = Date.now() + 300;
      const e = await failure(engine.generate({ ...INPUT, prompt: FREEZE_MARKER }, { deadlineAt }));
      expect(e).toBeInstanceOf(EngineLostError);
      expect((e as EngineLostError).message).toContain('missing its deadline');
      expect(engine.alive).toBe(false);
      // Exit code 1: ended by Worker.terminate().
      expect(await engine.exited).toBe(1);
    } finally {
      await engine.close();
    }
  });

  it('close() gives up a thread that does not answer within its bound, and is idempotent', async () => {
    const engine = await Engine.load({
      modelDir: TINY_RANDOM,
      threadEntry: CRASHING_ENGINE_THREAD,
      closeTimeoutMs: 300,
    });
    const frozen = failure(engine.generate({ ...INPUT, prompt: FREEZE_MARKER }));
    const closedAt = Date.now();
    await Promise.all([engine.close(), engine.close()]);
    expect(Date.now()).toBeLessThan(closedAt + 300 + SLACK_MS);
    expect(await frozen).toBeInstanceOf(EngineLostError);
    expect(engine.alive).toBe(false);
    expect(await engine.exited).toBe(1);
    const e = await failure(engine.generate(INPUT));
    expect(e).toBeInstanceOf(EngineLostError);
    expect((e as EngineLostError).message).toBe('the engine is closed');
    await engine.close();
  });
});

describe('requests that wait their turn in the engine thread', () => {
  it('a canceled or overdue request behind a running one is answered at once, without costing the engine', async () => {
    // A grace far shorter than the running generation: were the waiting request's abort to count against
    // the thread, it would be given up under the running job.
    const engine = await Engine.load({ modelDir: TINY_RANDOM, abortGraceMs: 20 });
    try {
      const running = engine.generate({ ...INPUT, steps: 150 });
      const controller = new AbortController();
      const waiting = engine.generate({ ...INPUT, seed: 6 }, { signal: controller.signal });
      const overdue = engine.generate({ ...INPUT, seed: 7 }, { deadlineAt: Date.now() + 20 });
      controller.abort(new Error('client canceled'));
      const canceled = await failure(waiting);
      expect(canceled).toBeInstanceOf(EngineError);
      expect((canceled as EngineError).code).toBe('canceled');
      expect(await failure(overdue)).toBeInstanceOf(DeadlineExceededError);
      const done = await running;
      expect(done.steps).toBe(150);
      expect(engine.alive).toBe(true);
      // And the engine goes on serving.
      expect((await engine.generate({ ...INPUT, seed: 8 })).image.length).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });
});
