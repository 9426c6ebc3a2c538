import { z } from 'zod';

import { parseEnv, SharedEnv } from '@imagegen/contracts';
import { moderatorConfigFromEnv, type ClassifierConfig } from '@imagegen/prompt';

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

const ApiEnv = z
  .object({
    ...SharedEnv,
    PORT: int(8080, 0, 65535),
    HOST: z.string().default('0.0.0.0'),
    RATE_LIMIT_PER_MINUTE: int(60, 1),
    READ_RATE_LIMIT_PER_MINUTE: int(1200, 1),
    CONCURRENCY_LIMIT: int(24, 1),
    QUEUE_MAX_WAITING: int(10_000, 0),
    QUEUE_DEADLINE_MS: int(600_000, 1000),
    BODY_LIMIT_BYTES: int(65_536, 1024, 10_485_760),
    MAX_WAIT_S: int(60, 0, 600),
    /** Enables /admin/v1 (key management over HTTP) for this bearer key; unset = no admin endpoints. */
    ADMIN_API_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  })
  .strip();

export type ApiConfig = Readonly<
  z.infer<typeof ApiEnv> & {
    /** A moderation model (MODERATION_BASE_URL …) consulted after the word lists, or null. */
    moderation: ClassifierConfig | null;
  }
>;

/** The API's configuration from the environment; throws one error listing every bad variable. */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return Object.freeze({ ...parseEnv(ApiEnv, env), moderation: moderatorConfigFromEnv(env) });
}
