import { performance } from 'node:perf_hooks';

import type { ModelManifest } from './model/manifest.js';
import { planResolution, type AspectRatio, type ResolutionPlan } from './plan.js';
import { DEFAULT_RUNTIME, type RuntimeOptions } from './runtime/options.js';
import type { DenoiseRequest } from './runtime/pipeline.js';
import type { LoadedInfo } from './runtime/protocol.js';
import { ThreadClient } from './runtime/thread-client.js';
import { denoiseRequest, finishGeneration, threadPreviews, type StageContext } from './stages.js';
import {
  DEFAULT_ABORT_GRACE_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  type EngineInfo,
  type EngineOptions,
  type GenerateEntry,
  type GenerateHooks,
  type GenerateInput,
  type GenerateResult,
} from './engine-types.js';

export * from './engine-types.js';

type Prepared = {
  input: GenerateInput;
  hooks: GenerateHooks;
  request: DenoiseRequest;
  key: string;
  previews: ReturnType<typeof threadPreviews> | undefined;
};

/**
 * A loaded text-to-image model. ONNX sessions live in a worker thread; this object plans, orchestrates the
 * stages and encodes with sharp. Concurrent calls are queued in the thread in arrival order.
 */
export class Engine {
  private constructor(
    private readonly thread: ThreadClient,
    private readonly manifest: ModelManifest,
    private readonly loaded: LoadedInfo,
    private readonly runtime: RuntimeOptions,
  ) {}

  /** What the stages after denoising use. */
  private get stages(): StageContext {
    return { manifest: this.manifest, loaded: this.loaded, thread: this.thread };
  }

  /** Loads the model and opens every session; rejects with a clear EngineError on a bad directory. */
  static async load(options: EngineOptions): Promise<Engine> {
    const runtime: RuntimeOptions = { ...DEFAULT_RUNTIME, ...options.runtime };
    const { client, info } = await ThreadClient.start(
      {
        modelDir: options.modelDir,
        runtime,
        safetyModelDir: options.safetyModelDir ?? null,
        defaultSafetyModelDir: options.defaultSafetyModelDir ?? null,
        upscalerDir: options.upscalerDir ?? null,
        defaultUpscalerDir: options.defaultUpscalerDir ?? null,
      },
      {
        entry: options.threadEntry,
        abortGraceMs: options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS,
        closeTimeoutMs: options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
      },
    );
    return new Engine(client, info.manifest, info, runtime);
  }

  /**
   * False once the engine's thread crashed, exited, was given up (a missed deadline, an abort past its grace)
   * or was closed. A dead engine rejects every call with `EngineLostError`; load a new one to go on.
   */
  get alive(): boolean {
    return this.thread.alive;
  }

  /**
   * Resolves with the exit code once the engine's thread has really ended. A thread given up inside a native
   * onnxruntime run ends only when that run returns; until then it keeps its core.
   */
  get exited(): Promise<number> {
    return this.thread.exited;
  }

  get info(): EngineInfo {
    return {
      modelDir: this.manifest.dir,
      pipelineClass: this.manifest.pipelineClass,
      scheduler: this.manifest.scheduler.className,
      defaults: this.manifest.defaults,
      provider: this.runtime.provider,
      upscaleFactor: this.loaded.upscaleFactors.at(-1) ?? null,
      upscaleFactors: this.loaded.upscaleFactors,
      upscaler: this.loaded.upscaler,
      safety: this.loaded.safety,
    };
  }

  /** The model's native size (its training resolution) and the multiple every generation size is of. */
  get native(): { width: number; height: number; multiple: number } {
    const side = Math.round(Math.sqrt(this.manifest.nativePixels));
    return { width: side, height: side, multiple: this.manifest.pixelMultiple };
  }

  /**
   * One denoising step at the smallest size the model accepts (one `pixelMultiple` square, 64² for Stable
   * Diffusion): every network of the generation runs once end to end, with no upscaling, safety check or
   * encoding. Rejects as a generation would (`bad_model_output` for NaN/Inf, …); resolves to its time.
   */
  async probe(): Promise<{ width: number; height: number; ms: number }> {
    const side = this.manifest.pixelMultiple;
    const started = performance.now();
    await this.thread.generate(
      {
        prompt: 'a test',
        negativePrompt: '',
        seed: 0,
        steps: 1,
        guidance: this.manifest.defaults.guidance,
        width: side,
        height: side,
      },
      {},
      () => undefined,
    );
    return { width: side, height: side, ms: performance.now() - started };
  }

  plan(aspectRatio: AspectRatio): ResolutionPlan {
    return planResolution(this.manifest, aspectRatio);
  }

  /** Runs one small generation so kernels are initialised before real work arrives. */
  async warmup(): Promise<void> {
    await this.generate({ prompt: 'warm-up', aspectRatio: '1:1', seed: 0, format: 'jpeg', steps: 1 });
  }

  /**
   * Inputs with equal keys can share UNet calls in `generateBatch`: same native size, steps and guidance
   * (one model and one scheduler per engine). The key is opaque; throws for an unknown aspect ratio.
   */
  batchKey(input: GenerateInput): string {
    const { native } = this.plan(input.aspectRatio);
    const steps = input.steps ?? this.manifest.defaults.steps;
    const guidance = input.guidance ?? this.manifest.defaults.guidance;
    return `${native.width}x${native.height}/${steps}/${guidance}`;
  }

  /** One generation: `generateBatch` with a single entry. */
  generate(input: GenerateInput, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    return this.generateBatch([{ input, hooks }])[0]!;
  }

  /**
   * Generates several images, one promise per entry, in entry order. Entries with the same `batchKey`
   * denoise together (one UNet call per step for all of them); each keeps its own prompt, negative prompt,
   * seed and noise, so its image has the same bytes as when it is generated alone. Each entry's hooks bound
   * it alone: its abort stops it at the next step while the others go on, and its deadline behaves as in
   * `generate` (see `GenerateHooks`). Upscaling, the safety check and encoding run per entry.
   */
  generateBatch(entries: readonly GenerateEntry[]): Promise<GenerateResult>[] {
    const started = performance.now();
    const prepared = entries.map(({ input, hooks = {} }) => {
      try {
        const request = denoiseRequest(this.manifest, input);
        const previews = hooks.previews ? threadPreviews(hooks.previews) : undefined;
        return { input, hooks, request, key: this.batchKey(input), previews };
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    });
    const results = new Map<number, Promise<GenerateResult>>();
    const groups = new Map<string, number[]>();
    prepared.forEach((p, k) => {
      if (p instanceof Error) results.set(k, Promise.reject(p));
      else groups.set(p.key, [...(groups.get(p.key) ?? []), k]);
    });
    for (const members of groups.values()) {
      const calls = members.map((k) => {
        const p = prepared[k] as Prepared;
        p.hooks.onStage?.('generating');
        return {
          request: p.request,
          limits: { signal: p.hooks.signal, deadlineAt: p.hooks.deadlineAt },
          onProgress: (step: number, total: number) => p.hooks.onStep?.(step, total),
          previews: p.previews?.thread,
        };
      });
      this.thread.generateBatch(calls).forEach((gen, j) => {
        const k = members[j]!;
        const p = prepared[k] as Prepared;
        results.set(
          k,
          gen
            .finally(() => p.previews?.settled())
            .then((g) => finishGeneration(this.stages, p.input, p.hooks, g, started)),
        );
      });
    }
    return entries.map((_, k) => results.get(k)!);
  }

  /**
   * Releases every ONNX session and stops the thread; waits at most `closeTimeoutMs` for the thread (which
   * first finishes the requests queued before the close), then gives it up. Safe to call twice.
   */
  async close(): Promise<void> {
    await this.thread.close();
  }
}
