import { z } from 'zod';

import { parseEnv, SharedEnv } from '@imagegen/contracts';
import { createLogger, type Logger } from '@imagegen/observability';
import { storageFromEnv } from '@imagegen/storage';

const DispatcherEnv = z
  .object({ ...SharedEnv, SWEEP_INTERVAL_MS: z.coerce.number().int().min(1000).default(60_000) })
  .strip();
export type DispatcherConfig = Readonly<z.infer<typeof DispatcherEnv>>;

export function loadDispatcherConfig(env: NodeJS.ProcessEnv = process.env): DispatcherConfig {
  return parseEnv(DispatcherEnv, env);
}

export interface RunningDispatcher {
  logger: Logger;
  /** One sweep now; resolves to the number of images deleted. */
  sweepOnce: () => Promise<number>;
  close: () => Promise<void>;
}

/**
 * Deletes stored images older than IMAGE_TTL_MS every SWEEP_INTERVAL_MS. S3 lifecycle rules count in
 * whole days, so this sweep is what enforces the one-hour life; the bucket rule is only a safety net.
 */
export async function startDispatcher(config: DispatcherConfig): Promise<RunningDispatcher> {
  const logger = createLogger('dispatcher', config.LOG_LEVEL);
  const storage = storageFromEnv(config);
  await storage.ensureBucket();
  let running: Promise<number> | null = null;
  const sweepOnce = () => {
    running ??= storage
      .sweep()
      .then((n) => {
        if (n > 0) logger.info({ deleted: n }, 'expired images deleted');
        return n;
      })
      .catch((err: unknown) => {
        logger.warn({ err }, 'sweep failed; retrying at the next interval');
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void sweepOnce(), config.SWEEP_INTERVAL_MS);
  void sweepOnce();
  logger.info({ everyMs: config.SWEEP_INTERVAL_MS }, 'dispatcher started');
  return {
    logger,
    sweepOnce,
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
