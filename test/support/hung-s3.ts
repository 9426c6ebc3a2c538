import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface HungS3 {
  /** `http://127.0.0.1:<port>`: accepts TCP connections and never sends a byte back. */
  endpoint: string;
  port: number;
  /** How many connections were accepted so far. */
  accepted: () => number;
  /** Connections still open (the client has not closed or destroyed them). */
  open: () => number;
  /** Resolves with the next connection the endpoint accepts. */
  nextConnection: () => Promise<Socket>;
  /** Resolves once every accepted connection is closed (at once if none is open). */
  allClosed: () => Promise<void>;
  /** Destroys every connection and stops listening. Safe to call twice. */
  close: () => Promise<void>;
}

/**
 * An "S3 endpoint" that hangs: the connection succeeds, the request is read and never answered. This is
 * what a wedged proxy or a stopped-but-not-dead server looks like to a client, and what no timeout on the
 * connect alone would catch.
 */
export async function startHungS3(): Promise<HungS3> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    // Reading keeps the client's writes flowing; nothing is ever written back.
    socket.resume();
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) server.emit('idle');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accepted: () => accepted,
    open: () => sockets.size,
    nextConnection: async () => ((await once(server, 'connection')) as [Socket])[0],
    allClosed: async () => {
      if (sockets.size > 0) await once(server, 'idle');
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
