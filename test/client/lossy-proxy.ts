import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the API that can lose answers: `loseNextAnswer()` makes the next connection
 * reach the API and then drops it when the API starts answering, so the request took effect and the
 * client never heard back (what a retry with an Idempotency-Key exists for).
 */
export async function startLossyProxy(target: { port: number }) {
  let lose = 0;
  let lost = 0;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    const losing = lose > 0;
    if (losing) lose--;
    const upstream = connect(target.port, '127.0.0.1');
    open.add(upstream);
    upstream.on('close', () => open.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    if (losing) {
      client.pipe(upstream);
      upstream.once('data', () => {
        lost++;
        client.resetAndDestroy();
        upstream.destroy();
      });
    } else {
      client.pipe(upstream).pipe(client);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    loseNextAnswer() {
      lose++;
    },
    /** How many answers were dropped so far. */
    lost: () => lost,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
