import { z } from 'zod';

import {
  int,
  listenEnv,
  ModerationEnv,
  parseEnv,
  RedisDurabilityEnv,
  SharedEnv,
  webhookAllowlistEnv,
  type Env,
  type EnvConfig,
} from '@imagegen/contracts';
import { KEY_JOBS_INDEX_MAX } from '@imagegen/jobs';
import type { ClassifierConfig } from '@imagegen/prompt';
import { parseAllowlist } from '@imagegen/webhooks';

import { DEFAULT_AUTH_FAILURES_PER_MINUTE } from './http/auth-failures.js';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './http/connection-limit.js';
import { DEFAULT_OPS_RATE_LIMIT_PER_MINUTE } from './http/ops-limit.js';

/** The least entropy an ADMIN_API_KEY must show (a random 32-hex-digit key shows about 117). */
export const ADMIN_KEY_MIN_BITS = 96;

/**
 * A key's entropy as far as its text shows it: 0 for a repetition of a shorter pattern
 * (`passwordpassword…`, `0123456789` × 4), else its length × the Shannon entropy of its characters'
 * frequencies (`aaaa…` is 0, `adm_aaa…` a few bits). An upper bound: a key from a word list may show more
 * than it has.
 */
export function keyEntropyBits(key: string): number {
  for (let period = 1; period <= key.length / 2; period++) {
    if (key.slice(period) === key.slice(0, key.length - period)) return 0;
  }
  const counts = new Map<string, number>();
  for (const c of key) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bitsPerChar = 0;
  for (const n of counts.values()) bitsPerChar -= (n / key.length) * Math.log2(n / key.length);
  return bitsPerChar * key.length;
}

const ApiLimitsEnv = z.object({
  RATE_LIMIT_PER_MINUTE: int(60, 1),
  READ_RATE_LIMIT_PER_MINUTE: int(1200, 1),
  CONCURRENCY_LIMIT: int(24, 1),
  QUEUE_MAX_WAITING: int(10_000, 0),
  QUEUE_DEADLINE_MS: int(600_000, 1000),
  BODY_LIMIT_BYTES: int(65_536, 1024, 10_485_760),
  MAX_WAIT_S: int(60, 0, 600),
  /**
   * Enables /admin/v1 (key management over HTTP) for this bearer key; unset = no admin endpoints. At
   * least 32 characters and ADMIN_KEY_MIN_BITS of entropy (issue 17: a long but guessable key passed).
   */
  ADMIN_API_KEY: z
    .string()
    .min(32, { error: 'must be at least 32 characters', abort: true })
    .refine((key) => keyEntropyBits(key) >= ADMIN_KEY_MIN_BITS, {
      error: `has too little entropy (a repeated pattern, or under ${ADMIN_KEY_MIN_BITS} bits): generate one, e.g. with \`openssl rand -base64 32\``,
    })
    .optional(),
  /** Failed authentications budgeted per client address and minute, then 429 (see http/auth-failures.ts). */
  AUTH_FAILURES_PER_MINUTE: int(DEFAULT_AUTH_FAILURES_PER_MINUTE, 1),
  /** When set, /metrics answers only this bearer token (issue 17: anyone could scrape and flood it). */
  METRICS_TOKEN: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  /** Requests per client address and minute to /healthz, /readyz, /metrics and /openapi.json. */
  OPS_RATE_LIMIT_PER_MINUTE: int(DEFAULT_OPS_RATE_LIMIT_PER_MINUTE, 1),
  /** Time to receive a whole request (headers and body), then 408; long waits and streams are not cut. */
  REQUEST_TIMEOUT_MS: int(30_000, 1000, 600_000),
  /** Jobs one key retains (records and events); past it its oldest finished ones are purged early. */
  MAX_RETAINED_JOBS_PER_KEY: int(KEY_JOBS_INDEX_MAX, 10, 1_000_000),
  /** Event streams one API key may hold open in one API process; one more is 429. */
  MAX_STREAMS_PER_KEY: int(64, 1, 100_000),
  /** Long waits (`Prefer: wait`, `?wait=`) one API key may hold in one API process; one more is 429. */
  MAX_WAITS_PER_KEY: int(64, 1, 100_000),
  /** Open connections per client address (IPv6 by /64); one more is answered 429 and closed. */
  MAX_CONNECTIONS_PER_ADDRESS: int(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, 1),
  /**
   * Where clients reach this server, scheme and host (and a path prefix if any): the BFL adapter's
   * absolute `polling_url` is built from it, never from the Host header (which a client can forge).
   */
  PUBLIC_BASE_URL: z
    .url({
      protocol: /^https?$/,
      error: 'must be an absolute http(s) URL such as https://images.example.com',
    })
    .refine((u) => !/[?#]/.test(u), { error: 'must not have a query or fragment' })
    .optional(),
});

const ResultCacheEnv = z.object({
  /**
   * Result reuse (api.md "Caching"): `on` answers an identical request of the same key with an explicit
   * seed from a copy of its alive result, or attaches it to the identical job still running; `off` never.
   */
  RESULT_CACHE: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
});

const PlaygroundEnv = z.object({
  /** The built playground (index.html + assets/) served at `/`; default apps/web/dist/public. */
  PLAYGROUND_DIR: z.string().min(1).optional(),
});

const ApiEnv = [
  ...SharedEnv,
  RedisDurabilityEnv,
  listenEnv('PORT', 8080),
  webhookAllowlistEnv(parseAllowlist),
  ModerationEnv,
  ApiLimitsEnv,
  ResultCacheEnv,
  PlaygroundEnv,
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
