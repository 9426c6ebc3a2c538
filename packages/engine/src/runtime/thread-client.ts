import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { EngineError } from '../errors.js';
import type { DenoiseRequest, DenoiseResult } from './pipeline.js';
import type { LoadedInfo, WorkerInit, WorkerReply, WorkerRequest } from './protocol.js';
import type { SafetyVerdict } from './safety.js';

/** File URL of tsx's ESM registration API (the ESM build: its CommonJS build cannot register hooks here). */
function tsxEsmApi(): string {
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  return pathToFileURL(join(dirname(pkg), 'dist', 'esm', 'api', 'index.mjs')).href;
}

type Pending = {
  resolve: (reply: WorkerReply) => void;
  reject: (e: EngineError) => void;
  onProgress?: (step: number, total: number) => void;
};

/** Distributive Omit, so each request variant keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/**
 * The main-thread side of the engine's worker thread: request/reply by id, progress callbacks, and
 * rejection of everything pending if the thread dies.
 */
export class ThreadClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead: EngineError | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: WorkerReply) => {
      if (!('id' in msg)) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.kind === 'progress') {
        p.onProgress?.(msg.step, msg.total);
        return;
      }
      this.pending.delete(msg.id);
      if (msg.kind === 'failed') p.reject(EngineError.fromJSON(msg.error));
      else p.resolve(msg);
    });
    const die = (e: EngineError) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    worker.on('error', (e) =>
      die(
        new EngineError('runtime_failure', `engine thread crashed: ${e.message}`, {
          retryable: true,
          cause: e,
        }),
      ),
    );
    worker.on('exit', (code) =>
      die(new EngineError('runtime_failure', `engine thread exited (code ${code})`, { retryable: true })),
    );
  }

  /** Starts the thread and waits until the model is loaded. */
  static async start(init: WorkerInit): Promise<{ client: ThreadClient; info: LoadedInfo }> {
    const ext = extname(fileURLToPath(import.meta.url));
    const entry = new URL(`./worker-main${ext}`, import.meta.url);
    // Compiled code runs as is. From TypeScript sources (tests, tsx) the thread registers tsx's loader first:
    // Node 20 does not apply `--import` hooks to a worker's entry module.
    const worker =
      ext === '.ts'
        ? new Worker(
            `import(${JSON.stringify(tsxEsmApi())})` +
              `.then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`,
            { eval: true, workerData: init },
          )
        : new Worker(entry, { workerData: init });
    const info = await new Promise<LoadedInfo>((resolve, reject) => {
      const onMessage = (msg: WorkerReply) => {
        if (msg.kind === 'ready') resolve(msg.info);
        else if (msg.kind === 'load_failed') reject(EngineError.fromJSON(msg.error));
        else return;
        cleanup();
      };
      const onError = (e: Error) => {
        cleanup();
        reject(
          new EngineError('runtime_failure', `engine thread failed to start: ${e.message}`, { cause: e }),
        );
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
    return { client: new ThreadClient(worker), info };
  }

  private call(
    req: WithoutId<WorkerRequest>,
    transfer: ArrayBuffer[] = [],
    onProgress?: (step: number, total: number) => void,
  ): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(onProgress ? { onProgress } : {}) });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  async generate(
    request: DenoiseRequest,
    signal: AbortSignal | undefined,
    onProgress: (step: number, total: number) => void,
  ): Promise<DenoiseResult> {
    const cancel = new SharedArrayBuffer(4);
    const flag = new Int32Array(cancel);
    const abort = () => Atomics.store(flag, 0, 1);
    if (signal?.aborted) abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const reply = await this.call({ kind: 'generate', request, cancel }, [], onProgress);
      if (reply.kind !== 'generated')
        throw new EngineError('runtime_failure', `unexpected reply ${reply.kind}`);
      return reply.result;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  async upscale(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
    const reply = await this.call({ kind: 'upscale', rgb, width, height }, [rgb.buffer as ArrayBuffer]);
    if (reply.kind !== 'upscaled') throw new EngineError('runtime_failure', `unexpected reply ${reply.kind}`);
    return reply.rgb;
  }

  async classify(rgb: Uint8Array, tolerance: number): Promise<SafetyVerdict> {
    const reply = await this.call({ kind: 'classify', rgb, tolerance });
    if (reply.kind !== 'classified')
      throw new EngineError('runtime_failure', `unexpected reply ${reply.kind}`);
    return reply.verdict;
  }

  /** Releases the sessions and ends the thread. Safe to call twice. */
  async close(): Promise<void> {
    if (this.dead) return;
    try {
      await this.call({ kind: 'close' });
    } catch {
      // The thread is gone already; terminate below is all that is left to do.
    }
    this.dead = new EngineError('runtime_failure', 'engine is closed');
    await this.worker.terminate();
  }
}
