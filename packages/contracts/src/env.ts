/**
 * The environment schema: zod fragments (Redis, S3, logging, webhook allow-list, moderation model,
 * upsampler, listening servers …) that each process composes and parses once, in its `loadXConfig`.
 */
export { checkField, httpUrl, int } from './env/fields.js';
export {
  JobRetentionEnv,
  listenEnv,
  LoggingEnv,
  S3Env,
  SharedEnv,
  webhookAllowlistEnv,
} from './env/fragments.js';
export {
  DEFAULT_REDIS_PREFIX,
  DEFAULT_REDIS_URL,
  parseNodeList,
  RedisDurabilityEnv,
  redisPrefix,
  RedisEnv,
  redisUrl,
  type RedisNodeAddress,
  type RedisTarget,
} from './env/redis.js';
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
