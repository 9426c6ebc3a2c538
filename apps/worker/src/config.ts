import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import {
  int,
  JOB_CATALOG,
  listenEnv,
  ModerationEnv,
  parseEnv,
  SharedEnv,
  UpsamplerEnv,
  type Env,
  type EnvConfig,
} from '@imagegen/contracts';
import { resolveModelDir } from '@imagegen/engine/model-files';
import { isUpscalerNetwork, networkDir, SAFETY_NETWORK, UPSCALER_NETWORKS } from '@imagegen/networks';
import type { ClassifierConfig, UpsamplerConfig } from '@imagegen/prompt';

/** The bundled model (packages/tiny-model/model), when this checkout has it. */
export const BUNDLED_MODEL_DIR = fileURLToPath(
  new URL('../../../packages/tiny-model/model', import.meta.url),
);

/** `npm start`'s data directory when IMAGEGEN_DATA_DIR is unset (the repository's `.imagegen`). */
const DEFAULT_DATA_DIR = fileURLToPath(new URL('../../../.imagegen', import.meta.url));

/** A shipped network's directory, or the reason this installation lacks it. */
function shipped(name: string): { dir: string } | { error: string } {
  try {
    return { dir: networkDir(name) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** BATCH_MAX's default with ORT_PROVIDER=cuda: a GPU denoises four latents in little more than one's time. */
export const GPU_BATCH_MAX = 4;
/**
 * BATCH_MAX's default on the CPU: `npm run bench:engine` on the 2-core machine, once onnxruntime's threads
 * stopped spin-waiting, measured the bundled model at 1.23–1.37× (batch 2) and 1.36–1.43× (batch 4) of batch
 * 1's images/s end to end (README, "Benchmark"); with spinning threads it had been 0.99× and 0.71×.
 */
export const CPU_BATCH_MAX = 4;

const EngineEnv = z
  .object({
    /** A model directory, or the name of one pulled into IMAGEGEN_MODELS_DIR (`owner/name`). */
    MODEL_DIR: z.string().min(1).optional(),
    /** Where `imagegen models pull` puts models: default `<IMAGEGEN_DATA_DIR>/models`. */
    IMAGEGEN_MODELS_DIR: z.string().min(1).optional(),
    IMAGEGEN_DATA_DIR: z.string().min(1).optional(),
    /**
     * Memory the model may use on its device, in bytes; 0 (default) reads what is free (the process's
     * available memory on CPU, nvidia-smi on CUDA). The worker refuses to start a model estimated larger.
     */
    MODEL_MEMORY_BYTES: int(0, 0),
    /**
     * Image safety classifier directory; `none` turns the check off. Unset: the model's own
     * `safety_checker/`, else the shipped nsfwjs MobileNetV2 (`@imagegen/networks`).
     */
    SAFETY_MODEL_DIR: z.string().min(1).optional(),
    /**
     * `esrgan-slim`, `esrgan-medium`, `esrgan-thick`, `lanczos` (exact resize only) or a network directory.
     * Unset: the model's own `upscaler/`, else esrgan-slim.
     */
    UPSCALER: z.string().min(1).optional(),
    ORT_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
    ORT_DEVICE_ID: int(0, 0, 64),
    ORT_INTRA_OP_THREADS: int(0, 0, 1024),
    /**
     * Most queued jobs denoised together in one micro-batch (1: no batching). Unset: 4 with cuda,
     * CPU_BATCH_MAX on the CPU.
     */
    BATCH_MAX: z.coerce.number().int().min(1).max(64).optional(),
    /** How long a job waits for compatible ones to fill its batch; 0: only those already waiting. */
    BATCH_WAIT_MS: int(0, 0, 10_000),
  })
  .transform((c, ctx) => {
    const modelsDir = resolve(
      c.IMAGEGEN_MODELS_DIR ?? join(c.IMAGEGEN_DATA_DIR ?? DEFAULT_DATA_DIR, 'models'),
    );
    const modelDir = c.MODEL_DIR === undefined ? BUNDLED_MODEL_DIR : resolveModelDir(c.MODEL_DIR, modelsDir);
    if (modelDir === null) {
      ctx.addIssue({
        code: 'custom',
        message: `MODEL_DIR is neither a directory nor a model pulled into ${modelsDir} (set it to an ONNX model directory, or pull one: npx imagegen models pull OWNER/NAME)`,
        path: ['MODEL_DIR'],
      });
    } else if (!existsSync(modelDir)) {
      ctx.addIssue({
        code: 'custom',
        message: 'MODEL_DIR does not exist (set it to an ONNX model directory)',
        path: ['MODEL_DIR'],
      });
    }
    const safety = c.SAFETY_MODEL_DIR;
    if (safety !== undefined && safety !== 'none' && !existsSync(safety)) {
      ctx.addIssue({
        code: 'custom',
        message: 'SAFETY_MODEL_DIR does not exist (a classifier directory, or none)',
        path: ['SAFETY_MODEL_DIR'],
      });
    }
    const defaultSafety = shipped(SAFETY_NETWORK);
    if (safety === undefined && 'error' in defaultSafety) {
      ctx.addIssue({ code: 'custom', message: defaultSafety.error, path: ['SAFETY_MODEL_DIR'] });
    }
    const up = c.UPSCALER;
    let upscalerDir = null as string | false | null;
    if (up === 'lanczos') upscalerDir = false;
    else if (up !== undefined && isUpscalerNetwork(up)) {
      const net = shipped(up);
      if ('error' in net) ctx.addIssue({ code: 'custom', message: net.error, path: ['UPSCALER'] });
      else upscalerDir = net.dir;
    } else if (up !== undefined) {
      if (existsSync(up)) upscalerDir = up;
      else {
        ctx.addIssue({
          code: 'custom',
          message: `UPSCALER must be ${UPSCALER_NETWORKS.join(', ')}, lanczos or an existing network directory`,
          path: ['UPSCALER'],
        });
      }
    }
    const defaultUpscaler = shipped('esrgan-slim');
    const safetyModelDir: string | false | null = safety === 'none' ? false : (safety ?? null);
    return {
      ...c,
      BATCH_MAX: c.BATCH_MAX ?? (c.ORT_PROVIDER === 'cuda' ? GPU_BATCH_MAX : CPU_BATCH_MAX),
      MODEL_DIR: modelDir ?? c.MODEL_DIR ?? BUNDLED_MODEL_DIR,
      IMAGEGEN_MODELS_DIR: modelsDir,
      /** Engine options: false = off, null = the model's own, else this directory. */
      safetyModelDir,
      defaultSafetyModelDir: 'dir' in defaultSafety ? defaultSafety.dir : null,
      upscalerDir,
      defaultUpscalerDir: 'dir' in defaultUpscaler ? defaultUpscaler.dir : null,
    };
  });

/**
 * Room beyond WORKER_SHUTDOWN_MS for closing the engine, BullMQ and Redis after running jobs end: a
 * stopped worker exits within WORKER_SHUTDOWN_MS plus this (what a container's grace period must cover).
 */
export const WORKER_CLOSE_MARGIN_MS = 15_000;

const WorkerJobsEnv = z.object({
  WORKER_CONCURRENCY: int(1, 1, 64),
  JOB_TIMEOUT_MS: int(JOB_CATALOG.generate.timeoutMs, 100),
  WORKER_LOCK_MS: int(30_000, 1000),
  WORKER_STALLED_INTERVAL_MS: int(30_000, 500),
  WORKER_SHUTDOWN_MS: int(30_000, 0),
  /** Worker or engine deaths a job may cause before it ends `failed` with worker_crashed. */
  WORKER_MAX_CRASHES: int(2, 0, 20),
  /** How long a canceled or timed-out generation may run on before its engine thread is given up. */
  ENGINE_ABORT_GRACE_MS: int(2000, 100, 600_000),
  /**
   * Live previews (for event streams opened with `?previews=1`, and only while one is open): at most one
   * every this many denoising steps, and at most two a second. 0 turns them off. Default 10 (as A1111's
   * live preview); what they cost is measured by `npm run bench:engine` (README, "Benchmark").
   */
  PREVIEW_EVERY_STEPS: int(10, 0, 1000),
});

const WorkerEnv = [
  ...SharedEnv,
  listenEnv('WORKER_PORT', 9090),
  EngineEnv,
  WorkerJobsEnv,
  UpsamplerEnv,
  ModerationEnv,
] as const;

export type WorkerConfig = Readonly<
  Omit<EnvConfig<typeof WorkerEnv>, 'upsampler' | 'moderation'> & {
    /** prompt_upsampling: the rule engine, or PROMPT_UPSAMPLER=llm with UPSAMPLER_BASE_URL/MODEL/…. */
    upsampler: UpsamplerConfig;
    /** A moderation model for revised prompts (MODERATION_BASE_URL …), or null. */
    moderation: ClassifierConfig | null;
  }
>;

/**
 * The worker's configuration from the environment: a frozen typed object, or one `ConfigError` listing
 * every bad variable.
 */
export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  return parseEnv(env, WorkerEnv);
}
