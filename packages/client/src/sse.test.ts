import { describe, expect, it } from 'vitest';

import { readSse, SseParser } from './sse.js';

describe('SseParser', () => {
  it('dispatches events with ids, names and multi-line data, keeps the retry delay, skips comments', () => {
    const p = new SseParser();
    const text =
      'retry: 2000\n\n: keep-alive\n\nid: 1-0\nevent: queued\ndata: {"queue_position":1}\n\n' +
      'id: 2-0\r\nevent: progress\r\ndata: a\r\ndata: b\r\n\r\ndata: no id\rdata:x\r\r';
    expect(p.push(text)).toEqual([
      { id: '1-0', event: 'queued', data: '{"queue_position":1}' },
      { id: '2-0', event: 'progress', data: 'a\nb' },
      // The last id persists (as in EventSource); no `event:` means "message"; "data:x" has no space.
      { id: '2-0', event: 'message', data: 'no id\nx' },
    ]);
    expect(p.retryMs).toBe(2000);
  });

  it('assembles events split anywhere across chunks, a CRLF split between two included', () => {
    const whole = 'id: 7-1\r\nevent: completed\r\ndata: {"id":"gen_1"}\r\n\r\n';
    for (let cut = 0; cut <= whole.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(whole.slice(0, cut)), ...p.push(whole.slice(cut))];
      expect(got, `cut at ${cut}`).toEqual([{ id: '7-1', event: 'completed', data: '{"id":"gen_1"}' }]);
    }
  });

  it('reads a byte stream with a multi-byte character split between chunks', async () => {
    const bytes = new TextEncoder().encode('id: 1-0\nevent: progress\ndata: "é✓"\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(Uint8Array.of(b));
        c.close();
      },
    });
    const got = [];
    for await (const m of readSse(body)) got.push(m);
    expect(got).toEqual([{ id: '1-0', event: 'progress', data: '"é✓"' }]);
  });
});
