import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { EngineError } from '../errors.js';
import type { LoadedInfo, WorkerInit, WorkerReply } from './protocol.js';

/** File URL of tsx's ESM registration API (the ESM build: its CommonJS build cannot register hooks here). */
function tsxEsmApi(): string {
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  return pathToFileURL(join(dirname(pkg), 'dist', 'esm', 'api', 'index.mjs')).href;
}

/** What the thread is started with, besides what ThreadClient adds itself. */
export type ThreadInit = Omit<WorkerInit, 'control' | 'standardEntry'>;

/** A started thread that has loaded its model, and the control word it shares with the main thread. */
export interface StartedThread {
  worker: Worker;
  control: SharedArrayBuffer;
  info: LoadedInfo;
}

/**
 * Starts the engine thread (`entry`, or the standard `worker-main`) and waits until the model is loaded. A
 * thread that fails to load, crashes or exits while loading is terminated and rejects with an EngineError.
 */
export async function startThread(init: ThreadInit, entry: URL | undefined): Promise<StartedThread> {
  const standard = new URL(`./worker-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  const entryUrl = entry ?? standard;
  const control = new SharedArrayBuffer(4);
  const workerData: WorkerInit = { ...init, control, standardEntry: standard.href };
  // Compiled code runs as is. TypeScript (tests, tsx, a `.ts` entry) needs tsx's loader registered first in
  // the thread: Node 20 does not apply `--import` hooks to a worker's entry module.
  const worker = [entryUrl, standard].some((url) => url.pathname.endsWith('.ts'))
    ? new Worker(
        `import(${JSON.stringify(tsxEsmApi())})` +
          `.then((m) => { m.register(); return import(${JSON.stringify(entryUrl.href)}); })`,
        { eval: true, workerData },
      )
    : new Worker(entryUrl, { workerData });
  const info = await new Promise<LoadedInfo>((resolve, reject) => {
    const onMessage = (msg: WorkerReply) => {
      if (msg.kind === 'ready') resolve(msg.info);
      else if (msg.kind === 'load_failed') reject(EngineError.fromJSON(msg.error));
      else return;
      cleanup();
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new EngineError('runtime_failure', `engine thread failed to start: ${e.message}`, { cause: e }));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new EngineError('runtime_failure', `engine thread exited while loading (code ${code})`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  }).catch(async (e: unknown) => {
    await worker.terminate();
    throw e;
  });
  return { worker, control, info };
}
