import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import { parseEnv, SharedEnv } from '@imagegen/contracts';
import {
  moderatorConfigFromEnv,
  upsamplerConfigFromEnv,
  type ClassifierConfig,
  type UpsamplerConfig,
} from '@imagegen/prompt';

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

/** The bundled model (packages/tiny-model/model), when this checkout has it. */
export const BUNDLED_MODEL_DIR = fileURLToPath(
  new URL('../../../packages/tiny-model/model', import.meta.url),
);

const WorkerEnv = z
  .object({
    ...SharedEnv,
    MODEL_DIR: z.string().min(1).optional(),
    SAFETY_MODEL_DIR: z.string().min(1).optional(),
    ORT_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
    ORT_DEVICE_ID: int(0, 0, 64),
    ORT_INTRA_OP_THREADS: int(0, 0, 1024),
    WORKER_CONCURRENCY: int(1, 1, 64),
    JOB_TIMEOUT_MS: int(300_000, 100),
    WORKER_LOCK_MS: int(30_000, 1000),
    WORKER_STALLED_INTERVAL_MS: int(30_000, 500),
    WORKER_SHUTDOWN_MS: int(30_000, 0),
    WORKER_PORT: int(9090, 0, 65535),
    HOST: z.string().default('0.0.0.0'),
  })
  .strip()
  .transform((c) => ({ ...c, MODEL_DIR: c.MODEL_DIR ?? BUNDLED_MODEL_DIR }))
  .refine((c) => existsSync(c.MODEL_DIR), {
    message: 'MODEL_DIR does not exist (set it to an ONNX model directory)',
    path: ['MODEL_DIR'],
  });

export type WorkerConfig = Readonly<
  z.infer<typeof WorkerEnv> & {
    /** prompt_upsampling: the rule engine, or PROMPT_UPSAMPLER=llm with UPSAMPLER_BASE_URL/MODEL/…. */
    upsampler: UpsamplerConfig;
    /** A moderation model for revised prompts (MODERATION_BASE_URL …), or null. */
    moderation: ClassifierConfig | null;
  }
>;

/** The worker's configuration from the environment; throws one error listing every bad variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return Object.freeze({
    ...parseEnv(WorkerEnv, env),
    upsampler: upsamplerConfigFromEnv(env),
    moderation: moderatorConfigFromEnv(env),
  });
}
