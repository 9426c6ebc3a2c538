import { EventEmitter } from 'node:events';

import { describe, expect, it, vi } from 'vitest';

import { ConfigError } from '@imagegen/contracts';

import { createLogger } from './logger.js';
import { runMain } from './run-main.js';

/** Resolves with the first exit code runMain asks for. */
function harness() {
  const signals = new EventEmitter();
  let exited: (code: number) => void = () => undefined;
  const exitCode = new Promise<number>((resolve) => (exited = resolve));
  const exit = vi.fn((code: number) => exited(code));
  let stderr = '';
  const options = {
    name: 'test',
    signals,
    exit,
    stderr: { write: (text: string) => (stderr += text) },
  };
  return { signals, exit, exitCode, options, stderr: () => stderr };
}

const logger = createLogger('test', 'silent');

describe('runMain', () => {
  it('prints an invalid configuration without a stack trace and exits 2', async () => {
    const h = harness();
    await runMain(() => {
      throw new ConfigError([
        { variable: 'REDIS_URL', message: 'must be a redis:// or rediss:// URL' },
        { variable: 'PORT', message: 'Too small' },
      ]);
    }, h.options);
    expect(await h.exitCode).toBe(2);
    expect(h.stderr()).toBe(
      'invalid configuration:\n  REDIS_URL: must be a redis:// or rediss:// URL\n  PORT: Too small\n',
    );
  });

  it('exits 1 when startup fails otherwise', async () => {
    const h = harness();
    await runMain(() => Promise.reject(new Error('redis did not answer')), { ...h.options, logger });
    expect(await h.exitCode).toBe(1);
    expect(h.stderr()).toBe('');
  });

  it('closes once on SIGTERM, however many signals follow, then exits 0', async () => {
    const h = harness();
    let release: () => void = () => undefined;
    const close = vi.fn(() => new Promise<void>((resolve) => (release = resolve)));
    await runMain(() => Promise.resolve({ close, logger }), h.options);
    expect(close).not.toHaveBeenCalled();
    h.signals.emit('SIGTERM');
    h.signals.emit('SIGINT');
    h.signals.emit('SIGTERM');
    expect(close).toHaveBeenCalledTimes(1);
    release();
    expect(await h.exitCode).toBe(0);
    expect(h.exit).toHaveBeenCalledTimes(1);
  });

  it('exits 1 when close takes longer than the shutdown timeout', async () => {
    const h = harness();
    const close = vi.fn(() => new Promise<void>(() => undefined));
    await runMain(() => Promise.resolve({ close, logger, shutdownTimeoutMs: 20 }), h.options);
    h.signals.emit('SIGINT');
    expect(await h.exitCode).toBe(1);
  });

  it('exits 1 when close fails', async () => {
    const h = harness();
    await runMain(
      () => Promise.resolve({ close: () => Promise.reject(new Error('boom')), logger }),
      h.options,
    );
    h.signals.emit('SIGTERM');
    expect(await h.exitCode).toBe(1);
  });
});
