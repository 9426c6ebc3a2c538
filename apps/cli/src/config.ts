import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import { parseEnv, redisPrefix, redisUrl, type Env, type EnvConfig } from '@imagegen/contracts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const unsetIfEmpty = <S extends z.ZodType>(schema: S) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/**
 * What the `imagegen` command reads: the service of `generate`, `jobs` and `analyze` (IMAGEGEN_BASE_URL
 * and IMAGEGEN_API_KEY), the Redis of `imagegen keys` (REDIS_URL and REDIS_PREFIX), or else the running
 * `npm start` stack's stack.json and api-key in IMAGEGEN_DATA_DIR (the stack's own rule: default
 * `.imagegen` in the repository). Unset (or empty) variables stay undefined, so the command can fall
 * back to the stack's values.
 */
const CliEnv = z
  .object({
    REDIS_URL: unsetIfEmpty(redisUrl),
    REDIS_PREFIX: redisPrefix.optional(),
    IMAGEGEN_DATA_DIR: unsetIfEmpty(z.string()),
    IMAGEGEN_BASE_URL: unsetIfEmpty(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
    IMAGEGEN_API_KEY: unsetIfEmpty(z.string()),
    /** Where `imagegen models pull` puts models (default `<IMAGEGEN_DATA_DIR>/models`, as the worker reads it). */
    IMAGEGEN_MODELS_DIR: unsetIfEmpty(z.string()),
    /**
     * A Hugging Face-compatible hub (the Hub's own variable for mirrors) and the access token of gated
     * and private repositories; `models pull` checks them, so a bad one never stops another command.
     */
    HF_ENDPOINT: unsetIfEmpty(z.string()),
    HF_TOKEN: unsetIfEmpty(z.string()),
  })
  .transform((c) => {
    const dataDir = resolve(c.IMAGEGEN_DATA_DIR ?? join(root, '.imagegen'));
    return {
      ...c,
      IMAGEGEN_DATA_DIR: dataDir,
      /** Whether IMAGEGEN_DATA_DIR was set (messages then need not suggest setting it). */
      dataDirFromEnv: c.IMAGEGEN_DATA_DIR !== undefined,
      IMAGEGEN_MODELS_DIR: resolve(c.IMAGEGEN_MODELS_DIR ?? join(dataDir, 'models')),
    };
  });

export type CliConfig = EnvConfig<readonly [typeof CliEnv]>;

/** The command's configuration from the environment, or one `ConfigError` listing every bad variable. */
export function loadCliConfig(env: Env = process.env): CliConfig {
  return parseEnv(env, [CliEnv] as const);
}
