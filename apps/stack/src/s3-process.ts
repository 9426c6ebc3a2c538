import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { withRaisedFdLimit } from './fd-limit.js';

const MAIN = fileURLToPath(new URL('../../../packages/s3-lite/dist/main.js', import.meta.url));
/** Heap for the S3 process: it streams bodies to disk, so a little is plenty; past it, it dies alone. */
const HEAP_MB = 256;

export interface S3Process {
  readonly port: number;
  readonly endpoint: string;
  /** The process now serving (another after a restart). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Runs the embedded S3 endpoint (packages/s3-lite/src/main.ts) as its own process, kept alive: when it
 * exits by itself it is started again on the same port, a second later, so the api, worker and
 * dispatcher never go down with it (issue 17, finding 2). Resolves once it listens.
 */
export async function startS3Process(options: {
  dir: string;
  port: number;
  accessKey: string;
  secretKey: string;
  say: (line: string) => void;
}): Promise<S3Process> {
  let child: ChildProcess | undefined;
  let stopping = false;
  let port = options.port;
  const spawnOnce = () =>
    new Promise<number>((resolve, reject) => {
      const proc = spawn(...withRaisedFdLimit(process.execPath, [`--max-old-space-size=${HEAP_MB}`, MAIN]), {
        env: {
          PATH: process.env['PATH'] ?? '',
          S3LITE_DIR: options.dir,
          S3LITE_PORT: String(port),
          S3LITE_ACCESS_KEY: options.accessKey,
          S3LITE_SECRET_KEY: options.secretKey,
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child = proc;
      proc.once('message', (m: { listening?: number }) => {
        if (typeof m.listening === 'number') resolve(m.listening);
      });
      proc.once('exit', (code, signal) => {
        reject(new Error(`the S3 endpoint exited before listening (${code ?? signal ?? '?'})`));
        if (stopping || child !== proc) return;
        options.say(`the S3 endpoint exited (${code ?? signal ?? '?'}); starting it again`);
        setTimeout(() => void spawnOnce().catch((e: unknown) => options.say(String(e))), 1000).unref();
      });
    });
  port = await spawnOnce();
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    stop: async () => {
      stopping = true;
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
      await exited;
    },
  };
}
