/**
 * The floor under the API's submit for `bench:service`: an HTTP server that answers every POST 202 with a
 * small JSON body after parsing the request's JSON, and does nothing else — on bare node:http (`node`) or
 * on express with express.json (`express`). Prints its port on stdout.
 *
 *   node --import tsx test/bench/http-floor.ts node|express
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

import express from 'express';

const mode = process.argv[2];
const answer = (body: unknown) => ({ id: 'gen_floor', object: 'generation', status: 'queued', body });

const bare = (req: IncomingMessage, res: ServerResponse) => {
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (text += c));
  req.on('end', () => {
    const json = JSON.stringify(answer(JSON.parse(text)));
    res.writeHead(202, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
    });
    res.end(json);
  });
};

const app = express();
app.use(express.json());
app.post('/v1/images/generations', (req, res) => {
  res.status(202).json(answer(req.body));
});

if (mode !== 'node' && mode !== 'express') throw new Error('usage: http-floor.ts node|express');
const server = createServer(mode === 'node' ? bare : app);
server.listen(0, '127.0.0.1', () => {
  console.log((server.address() as { port: number }).port);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
