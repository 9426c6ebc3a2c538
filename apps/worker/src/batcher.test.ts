import { afterEach, describe, expect, it, vi } from 'vitest';

import { CanceledError, EngineLostError, JobTimeoutError } from '@imagegen/contracts';
import type { GenerateInput } from '@imagegen/engine';

import { deferred, FakeEngine, silentLogger } from '../../../test/support/fakes.js';
import { Batcher } from './batcher.js';
import { EngineHost } from './engine-host.js';

afterEach(() => {
  vi.useRealTimers();
});

const input = (prompt: string, aspectRatio: GenerateInput['aspectRatio'] = '1:1'): GenerateInput => ({
  prompt,
  aspectRatio,
  seed: 1,
  format: 'jpeg',
});

async function world(options: { maxBatch: number; waitMs?: number }) {
  const engines: FakeEngine[] = [];
  const replaced = deferred();
  const host = new EngineHost(
    () => {
      engines.push(new FakeEngine());
      return Promise.resolve(engines.at(-1)!);
    },
    silentLogger(),
    { onReplaced: () => replaced.resolve() },
  );
  await host.start();
  const sizes: number[] = [];
  const batcher = new Batcher(host, {
    maxBatch: options.maxBatch,
    waitMs: options.waitMs ?? 0,
    onBatch: (n) => sizes.push(n),
  });
  return { host, engines, batcher, sizes, replaced: replaced.promise };
}

describe('Batcher', () => {
  it('denoises waiting compatible generations together, at most BATCH_MAX at a time, oldest first', async () => {
    const { batcher, engines, sizes } = await world({ maxBatch: 3 });
    const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((p) => batcher.generate(input(p))));
    expect(results).toHaveLength(5);
    expect(engines[0]!.batches).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    expect(sizes).toEqual([3, 2]);
  });

  it('batches only generations that can share UNet calls; the others wait for their own batch', async () => {
    const { batcher, engines } = await world({ maxBatch: 4 });
    await Promise.all([
      batcher.generate(input('square 1')),
      batcher.generate(input('wide 1', '16:9')),
      batcher.generate(input('square 2')),
      batcher.generate(input('square 3')),
    ]);
    expect(engines[0]!.batches).toEqual([['square 1', 'square 2', 'square 3'], ['wide 1']]);
  });

  it('waits at most BATCH_WAIT_MS after the first generation for others to join', async () => {
    vi.useFakeTimers();
    const { batcher, engines } = await world({ maxBatch: 4, waitMs: 1000 });
    const a = batcher.generate(input('a'));
    await vi.advanceTimersByTimeAsync(999);
    expect(engines[0]!.batches).toEqual([]);
    const b = batcher.generate(input('b'));
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all([a, b]);
    expect(engines[0]!.batches).toEqual([['a', 'b']]);
  });

  it('answers a job canceled while it waits at once, and never runs it; the running batch is not touched', async () => {
    const { batcher, engines } = await world({ maxBatch: 2 });
    engines[0]!.mode = { kind: 'hang' };
    const [ca, cb, cc] = [new AbortController(), new AbortController(), new AbortController()];
    const a = batcher.generate(input('a'), { signal: ca.signal });
    const b = batcher.generate(input('b'), { signal: cb.signal });
    await engines[0]!.generating();
    const c = batcher.generate(input('c'), { signal: cc.signal });
    expect(batcher.queued).toBe(1);
    const timeout = new JobTimeoutError(1000);
    cc.abort(timeout);
    await expect(c).rejects.toBe(timeout);
    expect(batcher.queued).toBe(0);
    // One member of the running batch canceled: it ends, its partner goes on.
    ca.abort(new CanceledError());
    await expect(a).rejects.toThrow('canceled');
    engines[0]!.mode = { kind: 'ok' };
    cb.abort(new CanceledError());
    await expect(b).rejects.toThrow('canceled');
    await expect(batcher.generate(input('d'))).resolves.toMatchObject({ seed: 1 });
    expect(engines[0]!.batches).toEqual([['a', 'b'], ['d']]);
    expect(engines[0]!.calls.map((i) => i.prompt)).not.toContain('c');
  });

  it('a batch that loses the engine fails each of its jobs with EngineLostError; the next runs on a new engine', async () => {
    const { batcher, engines, host, replaced } = await world({ maxBatch: 4 });
    engines[0]!.mode = { kind: 'die' };
    const settled = await Promise.allSettled([batcher.generate(input('a')), batcher.generate(input('b'))]);
    for (const s of settled) expect((s as PromiseRejectedResult).reason).toBeInstanceOf(EngineLostError);
    await replaced;
    expect(host.replacements).toBe(1);
    await expect(batcher.generate(input('c'))).resolves.toMatchObject({ seed: 1 });
    expect(engines[1]!.batches).toEqual([['c']]);
  });

  it('keeps batching after every waiting job was canceled while the engine was being loaded', async () => {
    vi.useFakeTimers();
    const { host, engines } = await world({ maxBatch: 2 });
    const loaded = deferred();
    // An engine that is still loading when the batch is about to form.
    const loading = {
      acquire: async () => {
        await loaded.promise;
        return host.acquire();
      },
      generateBatch: host.generateBatch.bind(host),
    };
    const batcher = new Batcher(loading, { maxBatch: 2, waitMs: 0 });
    const canceled = new AbortController();
    const b = batcher.generate(input('b'), { signal: canceled.signal });
    await vi.advanceTimersByTimeAsync(0);
    canceled.abort(new CanceledError());
    await expect(b).rejects.toBeInstanceOf(CanceledError);
    loaded.resolve();
    await vi.advanceTimersByTimeAsync(0);
    const c = batcher.generate(input('c'));
    await vi.advanceTimersByTimeAsync(0);
    await expect(c).resolves.toMatchObject({ seed: 1 });
    expect(engines[0]!.batches).toEqual([['c']]);
  });
});
