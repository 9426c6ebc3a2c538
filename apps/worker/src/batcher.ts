import type { GenerateHooks, GenerateInput, GenerateResult } from '@imagegen/engine';

import type { EngineHost } from './engine-host.js';

export interface BatcherOptions {
  /** Most generations denoised together (BATCH_MAX, ≥ 2: a worker with 1 does not batch). */
  maxBatch: number;
  /**
   * How long the first generation waiting for a free engine waits for compatible ones to join
   * (BATCH_WAIT_MS). 0: only those already waiting when the engine frees up.
   */
  waitMs: number;
  /** Called with each batch's size as it starts (the batch-size metric). */
  onBatch?: (size: number) => void;
}

interface Waiting {
  input: GenerateInput;
  hooks: GenerateHooks;
  resolve: (r: GenerateResult) => void;
  reject: (e: unknown) => void;
  /** Removes the abort listener that answers a generation canceled while it waits. */
  forget: () => void;
}

/**
 * Groups the generations of the jobs a worker runs at once (BullMQ `concurrency` = BATCH_MAX) into
 * micro-batches. Each job keeps its own BullMQ handler, lock, progress, cancel, timeout, failure and retry;
 * only the engine call is shared. One batch denoises at a time: when the engine is free, the oldest waiting
 * generation starts a batch with up to `maxBatch - 1` younger ones that can share its UNet calls (same
 * `batchKey`: native size, steps, guidance), oldest first; the others wait for the next one. The next batch
 * starts once every member of the running one has left the denoising loop, so its upscaling, safety check
 * and encoding overlap the next batch's denoising.
 */
export class Batcher {
  private waiting: Waiting[] = [];
  private denoising = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly host: Pick<EngineHost, 'acquire' | 'generateBatch'>,
    private readonly options: BatcherOptions,
  ) {}

  /** Generations waiting for a batch. */
  get queued(): number {
    return this.waiting.length;
  }

  generate(input: GenerateInput, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    return new Promise((resolve, reject) => {
      const { signal } = hooks;
      const entry: Waiting = { input, hooks, resolve, reject, forget: () => undefined };
      if (signal) {
        // A job canceled (or timed out) while it waits is answered at once, as the engine would.
        const onAbort = () => {
          this.waiting = this.waiting.filter((w) => w !== entry);
          const reason: unknown = signal.reason;
          reject(reason instanceof Error ? reason : new Error('generation was canceled', { cause: reason }));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        entry.forget = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiting.push(entry);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.denoising || this.waiting.length === 0) return;
    if (this.waiting.length >= this.options.maxBatch) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.flush();
      return;
    }
    // A timer even for 0 ms: generations that arrive in the same turn of the event loop join.
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.options.waitMs);
  }

  private async flush(): Promise<void> {
    if (this.denoising || this.waiting.length === 0) return;
    this.denoising = true;
    let batch: Waiting[] = [];
    try {
      const engine = await this.host.acquire();
      const keyOf = (w: Waiting): string | null => {
        try {
          return engine.batchKey(w.input);
        } catch {
          return null; // an input the engine refuses runs alone and fails there with the engine's error
        }
      };
      const head = this.waiting[0];
      if (!head) {
        // Every waiting job was canceled while the engine loaded.
        this.denoising = false;
        return;
      }
      const key = keyOf(head);
      batch = key === null ? [head] : this.waiting.filter((w) => keyOf(w) === key);
      batch = batch.slice(0, this.options.maxBatch);
      this.waiting = this.waiting.filter((w) => !batch.includes(w));
      this.options.onBatch?.(batch.length);
      let left = batch.length;
      // A member leaves the denoising loop when it reaches upscaling or settles (canceled, failed).
      const leavers = batch.map(() => {
        let gone = false;
        return () => {
          if (gone) return;
          gone = true;
          if (--left === 0) {
            this.denoising = false;
            this.schedule();
          }
        };
      });
      const results = this.host.generateBatch(
        engine,
        batch.map((w, k) => {
          w.forget();
          return {
            input: w.input,
            hooks: {
              ...w.hooks,
              onStage: (stage) => {
                if (stage !== 'generating') leavers[k]!();
                w.hooks.onStage?.(stage);
              },
            },
          };
        }),
      );
      results.forEach((result, k) => {
        const w = batch[k]!;
        result.then(
          (r) => {
            leavers[k]!();
            w.resolve(r);
          },
          (e: unknown) => {
            leavers[k]!();
            w.reject(e);
          },
        );
      });
    } catch (e) {
      // No engine (its load failed): every waiting job fails this attempt and BullMQ retries it.
      const failed = [...batch, ...this.waiting];
      this.waiting = [];
      for (const w of failed) {
        w.forget();
        w.reject(e);
      }
      this.denoising = false;
    }
  }
}
