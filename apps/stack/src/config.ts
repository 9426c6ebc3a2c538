import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import {
  DEFAULT_REDIS_PREFIX,
  int,
  parseEnv,
  redisPrefix,
  redisUrl,
  type Env,
  type EnvConfig,
} from '@imagegen/contracts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** An empty variable counts as unset, as `npm start` has always treated these. */
const unsetIfEmpty = <S extends z.ZodType>(schema: S) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/**
 * What `npm start` itself reads. Everything else (and these too) is passed on to the api, worker and
 * dispatcher, which validate their own variables.
 */
const StackEnv = z
  .object({
    /** Data of the private Redis and S3 endpoint, and the local API key. */
    IMAGEGEN_DATA_DIR: z.string().default(join(root, '.imagegen')),
    /** Unset: a private redis-server is started. */
    REDIS_URL: unsetIfEmpty(redisUrl),
    REDIS_PREFIX: redisPrefix.default(DEFAULT_REDIS_PREFIX),
    /** Unset: the embedded S3 endpoint is started. */
    S3_ENDPOINT: unsetIfEmpty(z.url()),
    S3_PUBLIC_ENDPOINT: unsetIfEmpty(z.url()),
    /** Port of the embedded S3 endpoint; 0 = any free port. */
    S3_PORT: int(0, 0, 65535),
    /** Unset: the bundled model, or the random-weight fixture model when the bundled one is missing. */
    MODEL_DIR: unsetIfEmpty(z.string()),
    PORT: int(8080, 0, 65535),
    HOST: z.string().default('127.0.0.1'),
    /** Made valid at start (empty = unset); the key store checks its `ig_…` form. */
    IMAGEGEN_BOOTSTRAP_API_KEY: z.string().optional(),
    IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET: z.string().optional(),
    IMAGEGEN_WEBHOOK_ALLOWLIST: z.string().default(''),
  })
  .transform((c) => ({
    ...c,
    IMAGEGEN_DATA_DIR: resolve(c.IMAGEGEN_DATA_DIR),
    IMAGEGEN_BOOTSTRAP_API_KEY: c.IMAGEGEN_BOOTSTRAP_API_KEY || undefined,
    IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET: c.IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET || undefined,
  }));

/** The whole environment, handed to the child processes. */
const ChildEnv = z.looseObject({}).transform((env): { childEnv: Readonly<Record<string, string>> } => ({
  childEnv: Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'),
  ),
}));

export type StackConfig = EnvConfig<readonly [typeof StackEnv, typeof ChildEnv]>;

/**
 * The stack's configuration from the environment: a frozen typed object (with `childEnv`, the
 * environment its processes inherit), or one `ConfigError` listing every bad variable.
 */
export function loadStackConfig(env: Env = process.env): StackConfig {
  return parseEnv(env, [StackEnv, ChildEnv] as const);
}
