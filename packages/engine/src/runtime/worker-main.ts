/**
 * Entry point of the engine's worker thread. onnxruntime-node's `run()` is a synchronous native call, so
 * every session lives here and the main thread's event loop never blocks on a UNet pass.
 *
 * While it handles a request the thread holds its control word at THREAD_BUSY: `Worker.terminate()` during a
 * native onnxruntime call aborts the whole process when that call returns (onnxruntime-node 1.30 throws a
 * C++ `Napi::Error` into a terminating environment; measured). A main thread that gives the thread up marks
 * the word THREAD_ABANDONED instead, and the thread ends itself at its next step check or request boundary.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

import { EngineError, type SerializedEngineError } from '../errors.js';
import { readModelManifest } from '../model/manifest.js';
import { DiffusionPipeline, type StepHooks } from './pipeline.js';
import {
  ABANDONED_EXIT_CODE,
  THREAD_ABANDONED,
  THREAD_BUSY,
  THREAD_IDLE,
  type PreviewPlan,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from './protocol.js';
import { SafetyChecker } from './safety.js';
import { UpscalerSet } from './upscaler.js';

const port = parentPort;
if (!port) throw new Error('worker-main must run in a worker thread');

function serialize(e: unknown): SerializedEngineError {
  if (e instanceof EngineError) return e.toJSON();
  return { code: 'runtime_failure', message: (e as Error).message, retryable: true, file: undefined };
}

function send(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

/** Moves the control word from `from` to `to`, or ends the thread if the main thread abandoned it. */
function transition(control: Int32Array, from: number, to: number): void {
  if (Atomics.compareExchange(control, 0, from, to) !== from) process.exit(ABANDONED_EXIT_CODE);
}

/**
 * The step hook that makes live previews for one generation: after any step but the last while the caller
 * wants them (word 1 of `flag`), at least `everySteps` steps after the previous preview (or the start) and
 * at least `minIntervalMs` after it. Counting from the previous preview rather than from step 0 lets a
 * watcher who arrives mid-run get a preview at the next step. A preview that fails turns previews off for
 * the rest of the generation; it never fails the generation.
 */
function previewer(id: number, plan: PreviewPlan, flag: Int32Array): NonNullable<StepHooks['onDenoised']> {
  let lastAt = -Infinity;
  let lastStep = 0;
  let broken = false;
  return async (step, total, denoised, shape) => {
    if (broken || step - lastStep < plan.everySteps || step >= total || Atomics.load(flag, 1) !== 1) return;
    if (performance.now() - lastAt < plan.minIntervalMs) return;
    lastAt = performance.now();
    lastStep = step;
    try {
      const t0 = performance.now();
      const p = await pipeline.preview(denoised, shape);
      const ms = performance.now() - t0;
      send({ id, kind: 'preview', step, total, ...p, ms }, [p.rgb.buffer as ArrayBuffer]);
    } catch {
      broken = true;
    }
  };
}

let pipeline: DiffusionPipeline;

async function main(init: WorkerInit): Promise<void> {
  const control = new Int32Array(init.control);
  let upscalers: UpscalerSet;
  let safety: SafetyChecker | null = null;
  try {
    const manifest = readModelManifest(init.modelDir);
    pipeline = await DiffusionPipeline.open(manifest, init.runtime);
    // An explicit choice wins; otherwise the model's own network, otherwise the default one.
    const upscalerSource: { dir: string } | { model: typeof manifest } | 'none' =
      init.upscalerDir === false
        ? 'none'
        : init.upscalerDir !== null
          ? { dir: init.upscalerDir }
          : manifest.files.upscaler
            ? { model: manifest }
            : init.defaultUpscalerDir !== null
              ? { dir: init.defaultUpscalerDir }
              : 'none';
    upscalers = await UpscalerSet.open(upscalerSource, init.runtime);
    const ownSafety = existsSync(join(manifest.dir, 'safety_checker', 'model.onnx'))
      ? join(manifest.dir, 'safety_checker')
      : null;
    const safetyDir =
      init.safetyModelDir === false ? null : (init.safetyModelDir ?? ownSafety ?? init.defaultSafetyModelDir);
    if (safetyDir) safety = await SafetyChecker.open(safetyDir, init.runtime);
    send({
      kind: 'ready',
      info: {
        manifest,
        upscaleFactors: upscalers.scales,
        upscaler:
          upscalers.scales.length === 0 || upscalerSource === 'none'
            ? null
            : 'dir' in upscalerSource
              ? upscalerSource.dir
              : 'model',
        safety: safety
          ? {
              kind: safety.input.fit === 'cover' ? 'sd_safety_checker' : 'classifier',
              dir: safetyDir!,
              input: safety.input,
            }
          : null,
      },
    });
  } catch (e) {
    send({ kind: 'load_failed', error: serialize(e) });
    return;
  }

  // One request at a time, in arrival order: sessions are not shared between concurrent runs.
  let chain = Promise.resolve();
  port!.on('message', (msg: WorkerRequest) => {
    chain = chain.then(() => handle(msg));
  });

  async function handle(msg: WorkerRequest): Promise<void> {
    transition(control, THREAD_IDLE, THREAD_BUSY);
    await serve(msg);
    transition(control, THREAD_BUSY, THREAD_IDLE);
  }

  async function serve(msg: WorkerRequest): Promise<void> {
    try {
      switch (msg.kind) {
        case 'generate': {
          const answered = new Set<number>();
          const abandoned = () => Atomics.load(control, 0) === THREAD_ABANDONED;
          try {
            await pipeline.generateBatch(
              msg.items.map((item) => {
                const flag = new Int32Array(item.cancel);
                const hooks: StepHooks = {
                  isCanceled: () => Atomics.load(flag, 0) === 1 || abandoned(),
                  onStep: (step, total) => send({ id: item.id, kind: 'progress', step, total }),
                  ...(item.previews ? { onDenoised: previewer(item.id, item.previews, flag) } : {}),
                };
                return { request: item.request, hooks };
              }),
              (k, outcome) => {
                const id = msg.items[k]!.id;
                answered.add(id);
                if ('result' in outcome) {
                  send({ id, kind: 'generated', result: outcome.result }, [
                    outcome.result.rgb.buffer as ArrayBuffer,
                  ]);
                } else send({ id, kind: 'failed', error: serialize(outcome.error) });
              },
            );
          } catch (e) {
            for (const item of msg.items) {
              if (!answered.has(item.id)) send({ id: item.id, kind: 'failed', error: serialize(e) });
            }
          }
          return;
        }
        case 'upscale': {
          const upscaler = upscalers.get(msg.scale);
          if (!upscaler) throw new EngineError('invalid_argument', `no ×${msg.scale} upscaler is loaded`);
          const rgb = await upscaler.upscale(msg.rgb, msg.width, msg.height);
          send({ id: msg.id, kind: 'upscaled', rgb }, [rgb.buffer as ArrayBuffer]);
          return;
        }
        case 'classify': {
          if (!safety) throw new EngineError('invalid_argument', 'no image safety model is configured');
          send({ id: msg.id, kind: 'classified', verdict: await safety.check(msg.rgb, msg.tolerance) });
          return;
        }
        case 'close': {
          await Promise.allSettled([pipeline.release(), upscalers.release(), safety?.release()]);
          send({ id: msg.id, kind: 'closed' });
          port!.close();
          return;
        }
      }
    } catch (e) {
      send({ id: msg.id, kind: 'failed', error: serialize(e) });
    }
  }
}

void main(workerData as WorkerInit);
