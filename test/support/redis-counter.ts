import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy in front of redis-server that records the name of every command its clients send (top-level
 * only: what a script runs inside Redis is one EVALSHA here), to count a request's round trips. It reads
 * the RESP arrays clients write (`*<n>`, then `$<len>` bulk strings) and forwards the bytes unchanged.
 */
export async function startRedisCounter(target: { port: number }) {
  const commands: string[] = [];
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    const upstream = connect(target.port, '127.0.0.1');
    open.add(upstream);
    for (const s of [client, upstream]) {
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    let buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = parseCommand(buffer);
        if (!parsed) break;
        commands.push(parsed.name);
        buffer = buffer.subarray(parsed.length);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    commands,
    /** Forgets what was counted so far. */
    reset: () => void commands.splice(0),
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** One complete RESP command at the start of `buf`: its name (upper case) and byte length, or null. */
function parseCommand(buf: Buffer): { name: string; length: number } | null {
  const line = (at: number) => {
    const end = buf.indexOf('\r\n', at);
    return end < 0 ? null : { text: buf.toString('latin1', at, end), next: end + 2 };
  };
  const head = line(0);
  if (!head) return null;
  if (!head.text.startsWith('*')) {
    // An inline command (never sent by ioredis): one line.
    return { name: head.text.split(' ')[0]!.toUpperCase(), length: head.next };
  }
  let at = head.next;
  let name = '';
  for (let i = 0; i < Number(head.text.slice(1)); i++) {
    const len = line(at);
    if (!len) return null;
    const size = Number(len.text.slice(1));
    if (buf.length < len.next + size + 2) return null;
    if (i === 0) name = buf.toString('latin1', len.next, len.next + size).toUpperCase();
    at = len.next + size + 2;
  }
  return { name, length: at };
}
