/** One dispatched server-sent event (WHATWG HTML §9.2.6). */
export interface SseMessage {
  /** The last event id seen on the stream so far (ids persist across events, as in EventSource). */
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * An incremental `text/event-stream` parser: feed it decoded text as it arrives; it returns the events
 * completed so far and remembers the server's `retry` delay. Lines end in CRLF, LF or CR; comments
 * (`: keep-alive`) are ignored; an event with no data is not dispatched.
 */
export class SseParser {
  /** The reconnection delay the server asked for (`retry:`), in ms. */
  retryMs: number | undefined;
  private lastId: string | undefined;
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private sawCr = false;

  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let chunk = text;
    // A CRLF split across two chunks: the LF belongs to the line the CR already ended.
    if (this.sawCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.sawCr = false;
    this.buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A trailing CR may be the first half of a CRLF: treat it as the line end and drop a following LF.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) this.sawCr = true;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      const data = this.data;
      const event = this.event || 'message';
      this.data = [];
      this.event = '';
      return data.length === 0 ? undefined : { id: this.lastId, event, data: data.join('\n') };
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }
}

/** The events of a response body as they arrive; closing the iterator early cancels the body. */
export async function* readSse(
  body: ReadableStream<Uint8Array>,
  parser: SseParser = new SseParser(),
): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
