import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import { parseEnv, redisPrefix, redisUrl, type Env, type EnvConfig } from '@imagegen/contracts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * What the `imagegen` command reads: the Redis of `imagegen keys` (REDIS_URL and REDIS_PREFIX, or the
 * running `npm start` stack's stack.json in IMAGEGEN_DATA_DIR). Unset variables stay undefined, so the
 * command can fall back to the stack's values.
 */
const CliEnv = z
  .object({
    REDIS_URL: z.preprocess((v) => (v === '' ? undefined : v), redisUrl.optional()),
    REDIS_PREFIX: redisPrefix.optional(),
    IMAGEGEN_DATA_DIR: z.string().default(join(root, '.imagegen')),
  })
  .transform((c) => ({ ...c, IMAGEGEN_DATA_DIR: resolve(c.IMAGEGEN_DATA_DIR) }));

export type CliConfig = EnvConfig<readonly [typeof CliEnv]>;

/** The command's configuration from the environment, or one `ConfigError` listing every bad variable. */
export function loadCliConfig(env: Env = process.env): CliConfig {
  return parseEnv(env, [CliEnv] as const);
}
