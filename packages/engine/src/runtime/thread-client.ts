import type { Worker } from 'node:worker_threads';

import { DeadlineExceededError, EngineLostError } from '@imagegen/contracts';

import { canceledError, EngineError } from '../errors.js';
import type { DenoiseRequest, DenoiseResult } from './pipeline.js';
import {
  THREAD_ABANDONED,
  THREAD_BUSY,
  type GenerateItem,
  type LoadedInfo,
  type WorkerReply,
  type WorkerRequest,
} from './protocol.js';
import type { SafetyVerdict } from './safety.js';
import { startThread, type ThreadInit } from './thread-start.js';

import type {
  CallLimits,
  GenerateCall,
  Pending,
  PreviewReply,
  ThreadOptions,
  ThreadPreviews,
  WithoutId,
} from './thread-types.js';

export type { ThreadInit } from './thread-start.js';
export type { CallLimits, GenerateCall, ThreadOptions, ThreadPreviews } from './thread-types.js';

/** The longest delay `setTimeout` honours; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a pending call reports to, besides its reply. */
interface TrackHooks {
  onProgress?: (step: number, total: number) => void;
  onPreview?: (preview: PreviewReply) => void;
  onAbort?: () => void;
}

/**
 * The main-thread side of the engine's worker thread: request/reply by id, progress callbacks, deadlines, and
 * rejection of everything pending with `EngineLostError` once the thread dies or is given up.
 *
 * Giving the thread up (a missed deadline, an abort past its grace, a `close()` past its bound) marks it lost at
 * once. A thread waiting for work is `terminate()`d; a thread inside a request may be inside a native
 * onnxruntime call, where terminating it would abort the process when the call returns, so it is marked
 * abandoned and ends itself when that call returns. A native call that never returns keeps its thread (and a
 * core) until the process exits; `exited` says when a given-up thread has really ended.
 */
export class ThreadClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private lost: EngineLostError | null = null;
  private closing: Promise<void> | null = null;
  /** Set once the thread was given up: true when it was terminated, false when abandoned inside a request. */
  private terminated: boolean | null = null;
  private exitCode: number | null = null;
  /** Resolves with the thread's exit code once it has ended. */
  readonly exited: Promise<number>;

  private constructor(
    private readonly worker: Worker,
    private readonly control: Int32Array,
    private readonly options: ThreadOptions,
  ) {
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code: number) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
    worker.on('message', (msg: WorkerReply) => {
      if (!('id' in msg)) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.kind === 'progress') {
        p.onProgress?.(msg.step, msg.total);
        return;
      }
      if (msg.kind === 'preview') {
        p.onPreview?.(msg);
        return;
      }
      if (msg.kind === 'failed') p.reject(EngineError.fromJSON(msg.error));
      else p.resolve(msg);
    });
    worker.on('error', (e) =>
      this.fail(new EngineLostError(`engine thread crashed: ${e.message}`, { cause: e })),
    );
    worker.on('exit', (code) => this.fail(new EngineLostError(`engine thread exited with code ${code}`)));
  }

  /** Starts the thread and waits until the model is loaded. */
  static async start(
    init: ThreadInit,
    options: ThreadOptions,
  ): Promise<{ client: ThreadClient; info: LoadedInfo }> {
    const { worker, control, info } = await startThread(init, options.entry);
    return { client: new ThreadClient(worker, new Int32Array(control), options), info };
  }

  /** False once the thread has died, been given up or closed; every call then rejects with EngineLostError. */
  get alive(): boolean {
    return this.lost === null;
  }

  /**
   * Why a call with these limits must not be sent: the thread is lost, the signal aborted already
   * (`canceled`), or the deadline passed already (`DeadlineExceededError`); null when it may be sent.
   */
  private refusal(what: string, limits: CallLimits): Error | null {
    if (this.lost) return this.lost;
    if (limits.signal?.aborted) return canceledError(limits.signal.reason);
    if (limits.deadlineAt !== undefined && Math.ceil(limits.deadlineAt - Date.now()) <= 0) {
      return new DeadlineExceededError(what, 0);
    }
    return null;
  }

  /** Sends one request (see `track` for how it ends early). */
  private call(
    what: string,
    req: WithoutId<WorkerRequest>,
    limits: CallLimits,
    transfer: ArrayBuffer[] = [],
    hooks: TrackHooks = {},
  ): Promise<WorkerReply> {
    const refused = this.refusal(what, limits);
    if (refused) return Promise.reject(refused);
    const id = this.nextId++;
    const reply = this.track(what, id, id, limits, hooks);
    this.worker.postMessage({ ...req, id }, transfer);
    return reply;
  }

  /**
   * Registers the pending reply to request `id`, part of the message `group` (a batch's items share one).
   * Rejects with the `canceled` EngineError when `signal` aborts before the reply, and gives the thread up
   * when the call's deadline passes or its abort is not honoured within the grace.
   */
  private track(
    what: string,
    id: number,
    group: number,
    limits: CallLimits,
    hooks: TrackHooks,
  ): Promise<WorkerReply> {
    const { signal, deadlineAt } = limits;
    // At least 1 ms: `refusal` has already turned away a deadline that had passed.
    const budgetMs = deadlineAt === undefined ? null : Math.max(1, Math.ceil(deadlineAt - Date.now()));
    return new Promise<WorkerReply>((resolve, reject) => {
      let deadlineTimer: NodeJS.Timeout | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(deadlineTimer);
        clearTimeout(graceTimer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      // The thread runs messages one at a time in arrival order: one with an older message still pending
      // is waiting behind it. The oldest pending message is the thread's own work (or the thread is stuck
      // before it), so only its abort or deadline can cost the thread; a waiting one is answered at once
      // (a generate marked canceled stops at its first step when its turn comes), so one job's cancel or
      // deadline never costs the engine under another job. The items of a batch are one message: an item
      // canceled mid-batch leaves it at the next step and the others go on.
      const waiting = () => [...this.pending.values()].some((other) => other.group < group);
      const onAbort = () => {
        hooks.onAbort?.();
        if (waiting()) {
          settle();
          reject(canceledError(signal?.reason));
          return;
        }
        graceTimer = setTimeout(() => {
          settle();
          reject(canceledError(signal?.reason));
          this.giveUp(
            new EngineLostError(
              `engine thread terminated: ${what} did not stop within ${this.options.abortGraceMs} ms of an abort`,
            ),
          );
        }, this.options.abortGraceMs);
      };
      if (budgetMs !== null) {
        deadlineTimer = setTimeout(
          () => {
            if (waiting()) {
              hooks.onAbort?.();
              settle();
              reject(new DeadlineExceededError(what, budgetMs));
              return;
            }
            this.giveUp(
              new EngineLostError(`engine thread terminated after missing its deadline (${what})`, {
                cause: new DeadlineExceededError(what, budgetMs),
              }),
            );
          },
          Math.min(budgetMs, MAX_TIMER_MS),
        );
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        group,
        resolve: (reply) => {
          settle();
          resolve(reply);
        },
        reject: (e) => {
          settle();
          const canceled = e instanceof EngineError && e.code === 'canceled' && signal?.aborted;
          reject(canceled ? canceledError(signal.reason) : e);
        },
        ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
        ...(hooks.onPreview ? { onPreview: hooks.onPreview } : {}),
      });
    });
  }

  /**
   * Denoises the requests as one batch (they must share size, steps and guidance); one promise per
   * request, each bounded by its own limits. A request refused before sending (see `refusal`) is not sent.
   */
  generateBatch(items: GenerateCall[]): Promise<DenoiseResult>[] {
    const sent: GenerateItem[] = [];
    let group = 0;
    const replies = items.map(({ request, limits, onProgress, previews }) => {
      const refused = this.refusal('generate', limits);
      if (refused) return Promise.reject(refused);
      const id = this.nextId++;
      if (group === 0) group = id;
      // Word 0: canceled; word 1: previews wanted (see GenerateItem in protocol.ts).
      const cancel = new SharedArrayBuffer(8);
      const words = new Int32Array(cancel);
      const refresh = () => {
        if (previews) Atomics.store(words, 1, previews.wanted() ? 1 : 0);
      };
      refresh();
      sent.push({ id, request, cancel, previews: previews?.plan ?? null });
      const hooks: TrackHooks = {
        onProgress: (step, total) => {
          refresh();
          onProgress(step, total);
        },
        onAbort: () => Atomics.store(words, 0, 1),
        ...(previews ? { onPreview: previews.onPreview } : {}),
      };
      return this.track('generate', id, group, limits, hooks).then((reply) => {
        if (reply.kind !== 'generated')
          throw new EngineError('runtime_failure', `unexpected reply ${reply.kind}`);
        return reply.result;
      });
    });
    if (sent.length > 0) this.worker.postMessage({ id: group, kind: 'generate', items: sent });
    return replies;
  }

  /** One generation: a batch of one. */
  generate(
    request: DenoiseRequest,
    limits: CallLimits,
    onProgress: (step: number, total: number) => void,
    previews?: ThreadPreviews,
  ): Promise<DenoiseResult> {
    return this.generateBatch([{ request, limits, onProgress, previews }])[0]!;
  }

  async upscale(
    rgb: Uint8Array,
    width: number,
    height: number,
    scale: number,
    limits: CallLimits,
  ): Promise<Uint8Array> {
    const reply = await this.call('upscale', { kind: 'upscale', rgb, width, height, scale }, limits, [
      rgb.buffer as ArrayBuffer,
    ]);
    if (reply.kind !== 'upscaled') throw new EngineError('runtime_failure', `unexpected reply ${reply.kind}`);
    return reply.rgb;
  }

  async classify(
    rgb: Uint8Array | Float32Array,
    tolerance: number,
    limits: CallLimits,
  ): Promise<SafetyVerdict> {
    const reply = await this.call('classify', { kind: 'classify', rgb, tolerance }, limits);
    if (reply.kind !== 'classified')
      throw new EngineError('runtime_failure', `unexpected reply ${reply.kind}`);
    return reply.verdict;
  }

  /**
   * Releases the sessions and ends the thread, waiting at most `closeTimeoutMs` for the thread to answer
   * (it answers after the requests queued before it); past that the thread is given up. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const answered = await this.call(
      'close',
      { kind: 'close' },
      {
        deadlineAt: Date.now() + this.options.closeTimeoutMs,
      },
    ).then(
      () => true,
      () => false,
    );
    const closed = new EngineLostError('the engine is closed');
    this.fail(closed);
    this.lost = closed;
    // A thread that answered ends by itself at once (its port is closed): wait for it with the thread
    // still referenced. Releasing it here could unref a thread that has not yet left its request, and a
    // process with nothing else to do would then exit before the thread does (a top-level await left
    // unsettled: exit code 13).
    if (answered) {
      await this.exited;
      return;
    }
    // One stuck in a native call is left to end when the call returns.
    const terminated = this.release();
    if (terminated || this.exitCode !== null) await this.exited;
  }

  /** Gives the thread up: everything pending rejects with `lost`, and the thread is ended or abandoned. */
  private giveUp(lost: EngineLostError): void {
    this.fail(lost);
    this.release();
  }

  /**
   * Marks the thread abandoned; terminates it unless it is inside a request (see the class comment).
   * Returns whether it was terminated.
   */
  private release(): boolean {
    if (this.terminated !== null) return this.terminated;
    this.terminated = Atomics.exchange(this.control, 0, THREAD_ABANDONED) !== THREAD_BUSY;
    if (this.terminated) void this.worker.terminate();
    // Do not let a thread spinning in native code hold the event loop open.
    else this.worker.unref();
    return this.terminated;
  }

  private fail(lost: EngineLostError): void {
    this.lost ??= lost;
    for (const p of this.pending.values()) p.reject(this.lost);
    this.pending.clear();
  }
}
