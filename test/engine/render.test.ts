import { createHash } from 'node:crypto';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ASPECT_RATIO_NAMES, ASPECT_RATIOS, Engine, EngineError, readPngText } from '@imagegen/engine';

import { FIXTURES, TINY_RANDOM } from './fixtures.js';
import { loopingModel } from './looping-unet.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.load({ modelDir: TINY_RANDOM, safetyModelDir: join(FIXTURES, 'safety-generic') });
});
afterAll(async () => {
  await engine.close();
});

describe('rendering with the fixture model', () => {
  for (const format of ['jpeg', 'png'] as const) {
    it(`renders all seven aspect ratios at their exact sizes as ${format}`, async () => {
      for (const ar of ASPECT_RATIO_NAMES) {
        const r = await engine.generate({ prompt: 'a red circle', aspectRatio: ar, seed: 1, format });
        const meta = await sharp(r.image).metadata();
        expect({ ar, format: meta.format, width: meta.width, height: meta.height }).toEqual({
          ar,
          format,
          ...ASPECT_RATIOS[ar],
        });
        expect([r.width, r.height]).toEqual([meta.width, meta.height]);
        expect(r.mimeType).toBe(`image/${format}`);
      }
    });
  }

  it('gives byte-identical files for the same seed, across engine instances', async () => {
    const input = { prompt: 'a blue star', aspectRatio: '16:9', seed: 1234, format: 'png' } as const;
    const a = await engine.generate(input);
    const other = await Engine.load({ modelDir: TINY_RANDOM });
    try {
      const b = await other.generate(input);
      expect(sha(b.image)).toBe(sha(a.image));
    } finally {
      await other.close();
    }
    const c = await engine.generate({ ...input, seed: 1235 });
    const d = await engine.generate({ ...input, prompt: 'a green star' });
    expect(sha(c.image)).not.toBe(sha(a.image));
    expect(sha(d.image)).not.toBe(sha(a.image));
  });

  it('gives the same bytes when requests are queued concurrently', async () => {
    const inputs = [7, 8, 9].map(
      (seed) => ({ prompt: 'a cat', aspectRatio: '1:1', seed, format: 'jpeg' }) as const,
    );
    const together = await Promise.all(inputs.map((i) => engine.generate(i)));
    for (const [k, i] of inputs.entries()) {
      expect(sha((await engine.generate(i)).image)).toBe(sha(together[k]!.image));
    }
  });

  it('writes the generation parameters into PNG text chunks', async () => {
    const r = await engine.generate({
      prompt: 'Ünïcode cat',
      aspectRatio: '4:3',
      seed: 99,
      format: 'png',
      steps: 3,
    });
    const text = readPngText(r.image);
    expect(JSON.parse(text['imagegen']!)).toMatchObject({ prompt: 'Ünïcode cat', seed: 99, steps: 3 });
    expect(text['parameters']).toContain('Seed: 99');
  });

  it('reports stages in order and one progress callback per step', async () => {
    const stages: string[] = [];
    const steps: string[] = [];
    const r = await engine.generate(
      { prompt: 'a cat', aspectRatio: '1:1', seed: 3, format: 'jpeg', steps: 5 },
      { onStage: (s) => stages.push(s), onStep: (i, n) => steps.push(`${i}/${n}`) },
    );
    expect(stages).toEqual(['generating', 'upscaling', 'safety_check', 'encoding']);
    expect(steps).toEqual(['1/5', '2/5', '3/5', '4/5', '5/5']);
    expect(r.steps).toBe(5);
    expect(r.timings.unet).toBeGreaterThan(0);
    expect(r.safety.checked).toBe(true);
  });

  it('runs classifier-free guidance only above 1 and it changes the image', async () => {
    // JPEG: no parameter chunk, so equal pixels give equal bytes.
    const base = { prompt: 'a red circle', aspectRatio: '1:1', seed: 5, format: 'jpeg' } as const;
    const g0 = await engine.generate({ ...base, guidance: 0 });
    const g1 = await engine.generate({ ...base, guidance: 1 });
    const g5 = await engine.generate({ ...base, guidance: 5 });
    // guidance 0 and 1 both run the conditional pass alone.
    expect(sha(g0.image)).toBe(sha(g1.image));
    expect(sha(g5.image)).not.toBe(sha(g0.image));
  });

  it('stops at the next step when the signal aborts, and keeps serving', async () => {
    // About 100 ms per UNet run: the abort sent on step 2's progress reaches the thread during step 3 at the
    // latest, so the thread reports no step after 3 (step 3 itself only when it had begun before the abort).
    const slow = loopingModel(100_000);
    const engine = await Engine.load({ modelDir: slow.dir });
    try {
      const controller = new AbortController();
      const reason = new Error('client cancel');
      const seen: number[] = [];
      const run = engine.generate(
        { prompt: 'a cat', aspectRatio: '1:1', seed: 3, format: 'jpeg', steps: 50 },
        {
          signal: controller.signal,
          onStep: (i) => {
            seen.push(i);
            if (i === 2) controller.abort(reason);
          },
        },
      );
      await expect(run).rejects.toMatchObject({ code: 'canceled', cause: reason });
      expect([
        [1, 2],
        [1, 2, 3],
      ]).toContainEqual(seen);
      const stoppedAt = [...seen];
      const after = await engine.generate({
        prompt: 'a cat',
        aspectRatio: '1:1',
        seed: 3,
        format: 'jpeg',
        steps: 2,
      });
      expect(after.steps).toBe(2);
      expect(engine.alive).toBe(true);
      // Requests run in order, so any late progress of the canceled one would have arrived by now.
      expect(seen).toEqual(stoppedAt);
    } finally {
      await engine.close();
      slow.cleanup();
    }
  });

  it('rejects out-of-range arguments with invalid_argument', async () => {
    const base = { prompt: 'x', aspectRatio: '1:1', seed: 1, format: 'jpeg' } as const;
    await expect(engine.generate({ ...base, seed: -1 })).rejects.toBeInstanceOf(EngineError);
    await expect(engine.generate({ ...base, seed: 2 ** 32 })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    await expect(engine.generate({ ...base, steps: 0 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(engine.generate({ ...base, safetyTolerance: 7 })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });
});
