import { z } from 'zod';

import {
  int,
  JOB_CATALOG,
  listenEnv,
  parseEnv,
  SharedEnv,
  webhookAllowlistEnv,
  type Env,
  type EnvConfig,
} from '@imagegen/contracts';
import { DEFAULT_RETRY_SCHEDULE_MS, parseAllowlist, parseSchedule } from '@imagegen/webhooks';

const DispatcherDutiesEnv = z.object({
  SWEEP_INTERVAL_MS: int(60_000, 1000),
  EXPIRE_INTERVAL_MS: int(5000, 100),
  /** A job whose enqueue intent is older than this was left behind by a submit that died; handed over. */
  ENQUEUE_GRACE_MS: int(5000, 100, 600_000),
  WEBHOOK_TIMEOUT_MS: int(JOB_CATALOG.deliverWebhook.timeoutMs, 100, 60_000),
  /** Delays before each retry: `500ms`, `5s`, `5m`, `2h` or plain milliseconds, comma-separated. */
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .default(DEFAULT_RETRY_SCHEDULE_MS.map((ms) => `${ms}ms`).join(','))
    .transform((text, ctx) => {
      try {
        return parseSchedule(text);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  WEBHOOK_CONCURRENCY: int(16, 1, 256),
  /** Attempts in flight to one target (scheme, host and port) per dispatcher. */
  WEBHOOK_TARGET_CONCURRENCY: int(2, 1, 256),
  /** Attempts in flight for one API key per dispatcher. */
  WEBHOOK_KEY_CONCURRENCY: int(4, 1, 256),
  /** Failed attempts in a row to one target that open its circuit (its deliveries wait, no attempt made). */
  WEBHOOK_CIRCUIT_FAILURES: int(5, 1, 1000),
  /** The first cool-down of an open circuit; it doubles while the target keeps failing, up to 10 min. */
  WEBHOOK_CIRCUIT_COOLDOWN_MS: int(30_000, 100, 600_000),
});

const DispatcherEnv = [
  ...SharedEnv,
  listenEnv('DISPATCHER_PORT', 9091),
  webhookAllowlistEnv(parseAllowlist),
  DispatcherDutiesEnv,
] as const;

export type DispatcherConfig = EnvConfig<typeof DispatcherEnv>;

/**
 * The dispatcher's configuration from the environment: a frozen typed object, or one `ConfigError`
 * listing every bad variable.
 */
export function loadDispatcherConfig(env: Env = process.env): DispatcherConfig {
  return parseEnv(env, DispatcherEnv);
}
