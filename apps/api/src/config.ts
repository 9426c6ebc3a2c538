import { z } from 'zod';

import {
  int,
  listenEnv,
  ModerationEnv,
  parseEnv,
  SharedEnv,
  webhookAllowlistEnv,
  type Env,
  type EnvConfig,
} from '@imagegen/contracts';
import type { ClassifierConfig } from '@imagegen/prompt';
import { parseAllowlist } from '@imagegen/webhooks';

const ApiLimitsEnv = z.object({
  RATE_LIMIT_PER_MINUTE: int(60, 1),
  READ_RATE_LIMIT_PER_MINUTE: int(1200, 1),
  CONCURRENCY_LIMIT: int(24, 1),
  QUEUE_MAX_WAITING: int(10_000, 0),
  QUEUE_DEADLINE_MS: int(600_000, 1000),
  BODY_LIMIT_BYTES: int(65_536, 1024, 10_485_760),
  MAX_WAIT_S: int(60, 0, 600),
  /** Enables /admin/v1 (key management over HTTP) for this bearer key; unset = no admin endpoints. */
  ADMIN_API_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
});

const ApiEnv = [
  ...SharedEnv,
  listenEnv('PORT', 8080),
  webhookAllowlistEnv(parseAllowlist),
  ModerationEnv,
  ApiLimitsEnv,
] as const;

export type ApiConfig = Readonly<
  Omit<EnvConfig<typeof ApiEnv>, 'moderation'> & {
    /** A moderation model (MODERATION_BASE_URL …) consulted after the word lists, or null. */
    moderation: ClassifierConfig | null;
  }
>;

/**
 * The API's configuration from the environment: a frozen typed object, or one `ConfigError` listing
 * every bad variable.
 */
export function loadApiConfig(env: Env = process.env): ApiConfig {
  return parseEnv(env, ApiEnv);
}
