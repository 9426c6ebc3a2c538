import type { GenerateEntry, GenerateHooks, GenerateInput, GenerateResult } from '@imagegen/engine';
import type { Logger } from '@imagegen/observability';

/** What the worker needs of an engine (the real `Engine`, or a fake in the fast tests). */
export interface EnginePort {
  readonly alive: boolean;
  /** Resolves once the engine's thread has really ended (a thread stuck in a native run has not). */
  readonly exited: Promise<number>;
  warmup(): Promise<void>;
  generate(input: GenerateInput, hooks?: GenerateHooks): Promise<GenerateResult>;
  /** Inputs with equal keys can share UNet calls (`generateBatch`); throws for an input it refuses. */
  batchKey(input: GenerateInput): string;
  /** One promise per entry; entries with equal keys are denoised together (see `Engine.generateBatch`). */
  generateBatch(entries: readonly GenerateEntry[]): Promise<GenerateResult>[];
  close(): Promise<void>;
}

/**
 * Owns the worker's engine across engine losses. When a generation leaves the engine dead (its thread
 * crashed, or was given up after missing a deadline), a new one is loaded and warmed in the background;
 * the next generation waits for it. While there is no live engine the worker reports itself not ready.
 */
export class EngineHost {
  private engine: EnginePort | null = null;
  private loading: Promise<EnginePort> | null = null;
  private closed = false;
  /** Engines loaded after the first (each one replaced a lost engine). */
  replacements = 0;
  /**
   * True once a lost engine's thread has not ended within `stuckAfterMs`: it is stuck inside a native
   * onnxruntime run that cannot be interrupted and holds a core (and, on a GPU, its memory) until the
   * process ends. The worker then reports itself unhealthy so its supervisor replaces the process.
   */
  stuck = false;

  constructor(
    private readonly load: () => Promise<EnginePort>,
    private readonly logger: Logger,
    private readonly options: { onReplaced?: () => void; onStuck?: () => void; stuckAfterMs?: number } = {},
  ) {}

  /** Loads and warms the first engine. */
  async start(): Promise<void> {
    await this.current();
  }

  get ready(): boolean {
    return this.engine?.alive === true;
  }

  async generate(input: GenerateInput, hooks: GenerateHooks): Promise<GenerateResult> {
    const engine = await this.current();
    try {
      return await engine.generate(input, hooks);
    } finally {
      if (!engine.alive && !this.closed) this.replace(engine);
    }
  }

  /** The live engine, once loaded (after a loss, the replacement being loaded). */
  acquire(): Promise<EnginePort> {
    return this.current();
  }

  /**
   * Runs a batch on `engine` (from `acquire`): one promise per entry. When the batch leaves the engine dead,
   * a new one is loaded before any of the entries' callers hears of it, as with `generate`.
   */
  generateBatch(engine: EnginePort, entries: readonly GenerateEntry[]): Promise<GenerateResult>[] {
    return engine.generateBatch(entries).map((result) =>
      result.finally(() => {
        if (!engine.alive && !this.closed) this.replace(engine);
      }),
    );
  }

  private current(): Promise<EnginePort> {
    if (this.engine?.alive) return Promise.resolve(this.engine);
    this.loading ??= (async () => {
      const started = performance.now();
      const engine = await this.load();
      await engine.warmup();
      this.engine = engine;
      this.logger.info({ ms: Math.round(performance.now() - started) }, 'engine loaded and warmed up');
      return engine;
    })().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private replace(lost: EnginePort): void {
    if (this.engine !== lost) return;
    this.engine = null;
    this.replacements++;
    this.logger.error('the engine was lost; loading a new one');
    void lost.close().catch(() => undefined);
    const stuckAfterMs = this.options.stuckAfterMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    void Promise.race([
      lost.exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), stuckAfterMs);
        timer.unref();
      }),
    ]).then((stuck) => {
      clearTimeout(timer);
      if (!stuck || this.closed) return;
      this.stuck = true;
      this.logger.fatal(
        { stuckAfterMs },
        'a lost engine thread is stuck in a native run; this process must be replaced',
      );
      this.options.onStuck?.();
    });
    this.current().then(
      () => this.options.onReplaced?.(),
      (err: unknown) => this.logger.error({ err }, 'loading a new engine failed; retrying with the next job'),
    );
  }

  /** Closes the engine. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    const engine = this.engine ?? (await this.loading?.catch(() => null)) ?? null;
    this.engine = null;
    await engine?.close();
  }
}
