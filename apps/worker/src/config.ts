import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import {
  int,
  listenEnv,
  ModerationEnv,
  parseEnv,
  SharedEnv,
  UpsamplerEnv,
  type Env,
  type EnvConfig,
} from '@imagegen/contracts';
import type { ClassifierConfig, UpsamplerConfig } from '@imagegen/prompt';

/** The bundled model (packages/tiny-model/model), when this checkout has it. */
export const BUNDLED_MODEL_DIR = fileURLToPath(
  new URL('../../../packages/tiny-model/model', import.meta.url),
);

const EngineEnv = z
  .object({
    MODEL_DIR: z.string().min(1).optional(),
    SAFETY_MODEL_DIR: z.string().min(1).optional(),
    ORT_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
    ORT_DEVICE_ID: int(0, 0, 64),
    ORT_INTRA_OP_THREADS: int(0, 0, 1024),
  })
  .transform((c) => ({ ...c, MODEL_DIR: c.MODEL_DIR ?? BUNDLED_MODEL_DIR }))
  .refine((c) => existsSync(c.MODEL_DIR), {
    message: 'MODEL_DIR does not exist (set it to an ONNX model directory)',
    path: ['MODEL_DIR'],
  });

const WorkerJobsEnv = z.object({
  WORKER_CONCURRENCY: int(1, 1, 64),
  JOB_TIMEOUT_MS: int(300_000, 100),
  WORKER_LOCK_MS: int(30_000, 1000),
  WORKER_STALLED_INTERVAL_MS: int(30_000, 500),
  WORKER_SHUTDOWN_MS: int(30_000, 0),
  /** Worker or engine deaths a job may cause before it ends `failed` with worker_crashed. */
  WORKER_MAX_CRASHES: int(2, 0, 20),
  /** How long a canceled or timed-out generation may run on before its engine thread is given up. */
  ENGINE_ABORT_GRACE_MS: int(2000, 100, 600_000),
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
