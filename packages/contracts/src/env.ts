/**
 * The environment schema: zod fragments (Redis, S3, logging, webhook allow-list, moderation model,
 * upsampler, listening servers …) that each process composes and parses once, in its `loadXConfig`.
 */
export { checkField, httpUrl, int } from './env/fields.js';
export {
  DEFAULT_REDIS_PREFIX,
  DEFAULT_REDIS_URL,
  JobRetentionEnv,
  listenEnv,
  LoggingEnv,
  redisPrefix,
  RedisEnv,
  redisUrl,
  S3Env,
  SharedEnv,
  webhookAllowlistEnv,
} from './env/fragments.js';
export {
  ConfigError,
  parseEnv,
  type ConfigProblem,
  type Env,
  type EnvConfig,
  type EnvFragment,
} from './env/parse.js';
export {
  ModerationEnv,
  UpsamplerEnv,
  type ModerationModelConfig,
  type UpsamplerSettings,
} from './env/prompt.js';
