import { z } from 'zod';

import { int } from './fields.js';
import { RedisEnv } from './redis.js';

/** The object store, and how long its images live: `S3_*`, `IMAGE_TTL_MS` (1 s to 7 days). */
export const S3Env = z.object({
  S3_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  S3_PUBLIC_ENDPOINT: z.url().optional(),
  S3_ACCESS_KEY: z.string().min(1).default('imagegen'),
  S3_SECRET_KEY: z.string().min(1).default('imagegen-secret'),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
    .default('imagegen'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** How long one S3 request may take before it fails (and the job's attempt is retried). */
  S3_REQUEST_TIMEOUT_MS: int(30_000, 100, 600_000),
  IMAGE_TTL_MS: int(3_600_000, 1000, 604_800_000),
});

/** How long finished jobs stay readable: `JOB_RETENTION_S` (at least 60). */
export const JobRetentionEnv = z.object({ JOB_RETENTION_S: int(86_400, 60) });

/** `LOG_LEVEL`: a pino level. */
export const LoggingEnv = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Redis, the object store, job retention and logging: what every service process needs. */
export const SharedEnv = [RedisEnv, S3Env, JobRetentionEnv, LoggingEnv] as const;

/**
 * `IMAGEGEN_WEBHOOK_ALLOWLIST`: webhook targets allowed despite the SSRF policy, and over plain http
 * (host names, IPs, CIDRs, comma-separated). `parse` is the parser the process will use (contracts
 * cannot depend on @imagegen/webhooks); whatever it throws becomes this variable's problem. The config
 * keeps the text.
 */
export function webhookAllowlistEnv(parse: (text: string) => unknown) {
  return z.object({
    IMAGEGEN_WEBHOOK_ALLOWLIST: z
      .string()
      .default('')
      .superRefine((text, ctx) => {
        try {
          parse(text);
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          ctx.addIssue({ code: 'custom', message: message.replace(/^IMAGEGEN_WEBHOOK_ALLOWLIST: /, '') });
        }
      }),
  });
}

/**
 * A listening HTTP server: its port variable (0 = any free port) and `HOST`, e.g.
 * `listenEnv('PORT', 8080)` for the API, `listenEnv('WORKER_PORT', 9090)` for the worker's ops server.
 */
export function listenEnv<P extends string>(portVariable: P, defaultPort: number) {
  return z.object({
    ...({ [portVariable]: int(defaultPort, 0, 65535) } as Record<P, ReturnType<typeof int>>),
    HOST: z.string().default('0.0.0.0'),
  });
}
