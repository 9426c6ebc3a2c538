import type { Response } from 'express';

/**
 * A server-sent event stream (WHATWG HTML §9.2) on an Express response: headers, the reconnection delay,
 * events with ids (clients resume with Last-Event-ID) and a comment keep-alive.
 */
export class SseStream {
  private readonly keepalive: NodeJS.Timeout;
  private ended = false;

  constructor(
    private readonly res: Response,
    options: { retryMs: number; keepaliveMs: number },
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(`retry: ${options.retryMs}\n\n`);
    this.keepalive = setInterval(() => res.write(': keep-alive\n\n'), options.keepaliveMs);
  }

  /** One event; with a null `id` it has no id field, so a client's Last-Event-ID stays the previous one. */
  send(id: string | null, event: string, data: unknown): void {
    if (this.ended) return;
    const head = id === null ? '' : `id: ${id}\n`;
    this.res.write(`${head}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream. Safe to call twice. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepalive);
    this.res.end();
  }

  /** Calls `fn` once when the client goes away. */
  onClose(fn: () => void): void {
    this.res.on('close', () => {
      clearInterval(this.keepalive);
      fn();
    });
  }
}
