/**
 * The embedded S3 endpoint as a process of its own (`npm start` runs it so; issue 17, finding 2): a
 * failure or a memory blow-up here cannot take the api, worker or dispatcher with it, and the supervisor
 * restarts it. Configured by the environment; tells its parent the bound port over IPC when it listens.
 */
import { S3LiteServer } from './server.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`s3-lite: ${name} is required\n`);
    process.exit(2);
  }
  return value;
};

const server = await S3LiteServer.start({
  dir: env('S3LITE_DIR'),
  host: process.env['S3LITE_HOST'] ?? '127.0.0.1',
  port: Number(process.env['S3LITE_PORT'] ?? 0),
  credentials: [{ accessKey: env('S3LITE_ACCESS_KEY'), secretKey: env('S3LITE_SECRET_KEY') }],
});
process.send?.({ listening: server.port });
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
// Under a supervisor (an IPC channel), Ctrl-C in the terminal reaches every process of the group: the
// supervisor decides when this one stops, after the services that use it.
if (process.send) process.on('SIGINT', () => undefined);
else process.once('SIGINT', () => void server.close().then(() => process.exit(0)));
