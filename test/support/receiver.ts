import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/**
 * A webhook receiver on 127.0.0.1 that records every request. `respond` decides each answer (status,
 * headers, or 'hang' to never answer); by default 200.
 */
export async function startReceiver() {
  const deliveries: Delivery[] = [];
  let respond: (
    d: Delivery,
    n: number,
  ) => number | 'hang' | { status: number; headers: Record<string, string> } = () => 200;
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const d = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      deliveries.push(d);
      const answer = respond(d, deliveries.length);
      if (answer === 'hang') hanging.push(res);
      else if (typeof answer === 'number') res.writeHead(answer).end();
      else res.writeHead(answer.status, answer.headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    deliveries,
    /** Deliveries whose body is about one job. */
    forJob: (jobId: string) =>
      deliveries.filter((d) => (JSON.parse(d.body) as { data: { id: string } }).data.id === jobId),
    setResponder: (fn: typeof respond) => {
      respond = fn;
    },
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
