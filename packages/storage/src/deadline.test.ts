import type { ClientRequest, RequestOptions } from 'node:http';

import { describe, expect, it } from 'vitest';

import { abortableTransport, withDeadline } from './deadline.js';

/** A transport that records the signal each request was given. */
function recordingTransport() {
  const signals: (AbortSignal | null | undefined)[] = [];
  const base = {
    request: (options: RequestOptions) => {
      signals.push(options.signal);
      return undefined as unknown as ClientRequest;
    },
  };
  return { transport: abortableTransport(base as never), signals };
}

describe('withDeadline', () => {
  it('gives a request its call’s signal even when another call ended while it was under way', async () => {
    const { transport, signals } = recordingTransport();
    const first = withDeadline('first', 5000, () => Promise.resolve('done'));
    const second = withDeadline('second', 5000, async () => {
      await first;
      await new Promise((r) => setImmediate(r));
      transport.request({});
    });
    await Promise.all([first, second]);
    expect(signals).toHaveLength(1);
    expect(signals[0]).toBeInstanceOf(AbortSignal);
  });

  it('gives a request of a later call its own signal, and none outside a call', async () => {
    const { transport, signals } = recordingTransport();
    await withDeadline('one', 5000, () => Promise.resolve(transport.request({})));
    transport.request({});
    await withDeadline('two', 5000, () => Promise.resolve(transport.request({})));
    expect(signals[0]).toBeInstanceOf(AbortSignal);
    expect(signals[1]).toBeUndefined();
    expect(signals[2]).toBeInstanceOf(AbortSignal);
    expect(signals[2]).not.toBe(signals[0]);
  });
});
