import { z } from 'zod';

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

/** Settings shared by every process that talks to Redis and the object store. */
export const SharedEnv = {
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('imagegen'),
  S3_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  S3_PUBLIC_ENDPOINT: z.url().optional(),
  S3_ACCESS_KEY: z.string().min(1).default('imagegen'),
  S3_SECRET_KEY: z.string().min(1).default('imagegen-secret'),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
    .default('imagegen'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  IMAGE_TTL_MS: int(3_600_000, 1000, 604_800_000),
  JOB_RETENTION_S: int(86_400, 60),
  /** Webhook targets allowed despite the SSRF policy, and over plain http: host names, IPs, CIDRs. */
  IMAGEGEN_WEBHOOK_ALLOWLIST: z.string().default(''),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/**
 * Parses a process's environment with its schema: a frozen typed config, or one error listing every bad
 * variable with what is wrong with it.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): Readonly<z.output<S>> {
  const r = schema.safeParse(env);
  if (!r.success) {
    throw new Error(
      `invalid configuration:\n${r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  }
  return Object.freeze(r.data);
}
