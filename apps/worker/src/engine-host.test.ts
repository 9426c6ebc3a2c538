import { afterEach, describe, expect, it, vi } from 'vitest';

import { EngineLostError } from '@imagegen/contracts';

import { deferred, FakeEngine, silentLogger } from '../../../test/support/fakes.js';
import { EngineHost } from './engine-host.js';

afterEach(() => {
  vi.useRealTimers();
});

const INPUT = { prompt: 'a cat', aspectRatio: '1:1', seed: 1, format: 'jpeg' } as const;
const STUCK_AFTER_MS = 30_000;

function world(options: { stuckOnDeath?: boolean } = {}) {
  const engines: FakeEngine[] = [];
  const replaced = deferred();
  const stuck = deferred();
  const host = new EngineHost(
    () => {
      const e = new FakeEngine();
      e.stuckOnDeath = options.stuckOnDeath ?? false;
      engines.push(e);
      return Promise.resolve(e);
    },
    silentLogger(),
    {
      onReplaced: () => replaced.resolve(),
      onStuck: () => stuck.resolve(),
      stuckAfterMs: STUCK_AFTER_MS,
    },
  );
  return { host, engines, replaced: replaced.promise, stuck: stuck.promise };
}

describe('EngineHost', () => {
  it('is ready once its first engine is loaded, and generates with it', async () => {
    const { host, engines } = world();
    expect(host.ready).toBe(false);
    await host.start();
    expect(host.ready).toBe(true);
    await expect(host.generate(INPUT, {})).resolves.toMatchObject({ width: 64 });
    expect(engines).toHaveLength(1);
    expect(engines[0]!.calls).toHaveLength(1);
  });

  it('replaces a lost engine, and the next generation runs on the new one', async () => {
    const { host, engines, replaced } = world();
    await host.start();
    engines[0]!.mode = { kind: 'die' };
    await expect(host.generate(INPUT, {})).rejects.toBeInstanceOf(EngineLostError);
    await replaced;
    expect(host.replacements).toBe(1);
    expect(host.ready).toBe(true);
    await expect(host.generate(INPUT, {})).resolves.toMatchObject({ seed: 1 });
    expect(engines).toHaveLength(2);
    expect(engines[1]!.calls).toHaveLength(1);
    expect(host.stuck).toBe(false);
  });

  it('keeps an engine that failed a generation but is still alive', async () => {
    const { host, engines } = world();
    await host.start();
    engines[0]!.mode = { kind: 'throw', error: new Error('bad input') };
    await expect(host.generate(INPUT, {})).rejects.toThrow('bad input');
    expect(host.replacements).toBe(0);
    expect(engines).toHaveLength(1);
  });

  it('reports itself stuck when a lost engine’s thread never ends', async () => {
    vi.useFakeTimers();
    const { host, engines, stuck } = world({ stuckOnDeath: true });
    await host.start();
    engines[0]!.mode = { kind: 'die' };
    await expect(host.generate(INPUT, {})).rejects.toBeInstanceOf(EngineLostError);
    await vi.advanceTimersByTimeAsync(STUCK_AFTER_MS - 1);
    expect(host.stuck).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stuck;
    expect(host.stuck).toBe(true);
  });

  it('is not ready after close', async () => {
    const { host } = world();
    await host.start();
    await host.close();
    expect(host.ready).toBe(false);
  });
});
