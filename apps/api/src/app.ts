import express from 'express';

import type { ApiKeyRepository, RateLimiter } from '@imagegen/access';
import type {
  GenerationQueue,
  InspectedQueue,
  JobEvents,
  JobPreviews,
  JobRepository,
  Presigner,
  RequestAnchors,
} from '@imagegen/jobs';
import type { Logger, Metrics } from '@imagegen/observability';
import type { PromptModerator } from '@imagegen/prompt';

import { bflRoutes } from './adapters/bfl/routes.js';
import { openAIRoutes } from './adapters/openai/routes.js';
import { DEFAULT_AUTH_FAILURES_PER_MINUTE } from './http/auth-failures.js';
import { errorHandler } from './http/errors.js';
import { knownPaths, methodNotAllowed } from './http/method-not-allowed.js';
import { DEFAULT_OPS_RATE_LIMIT_PER_MINUTE, opsRateLimit } from './http/ops-limit.js';
import { authenticate, jsonBody, rateLimit, requestContext } from './http/middleware.js';
import { adminRouter } from './routes/admin.js';
import { eventRoutes } from './routes/events.js';
import { generationRoutes } from './routes/generations.js';
import { opsRoutes, type RegisteredModel } from './routes/ops.js';
import { playgroundRoutes, type PlaygroundOptions } from './routes/playground.js';
import { promptRoutes } from './routes/prompts.js';
import { QUEUE_BOARD_PATH, queueBoard } from './routes/queue-board.js';
import { notFound } from './services/errors.js';
import type { OpenRequests } from './services/open-requests.js';
import type { SubmitDeps } from './services/submit.js';

/** The settings the HTTP layer reads (a subset of ApiConfig, so tests pass only these). */
export interface ApiSettings {
  RATE_LIMIT_PER_MINUTE: number;
  READ_RATE_LIMIT_PER_MINUTE: number;
  CONCURRENCY_LIMIT: number;
  QUEUE_MAX_WAITING: number;
  QUEUE_DEADLINE_MS: number;
  BODY_LIMIT_BYTES: number;
  MAX_WAIT_S: number;
  ADMIN_API_KEY?: string | undefined;
  /** Failed authentications per client address and minute (default 30), then 429. */
  AUTH_FAILURES_PER_MINUTE?: number | undefined;
  /** When set, /metrics needs it as a bearer token. */
  METRICS_TOKEN?: string | undefined;
  /** Requests per client address and minute to the routes that take no key (default 600), then 429. */
  OPS_RATE_LIMIT_PER_MINUTE?: number | undefined;
  /**
   * Where clients reach this server (e.g. `https://images.example.com`): the BFL adapter builds its
   * absolute `polling_url` from it (never from the Host header); without it that submit route answers 501.
   */
  PUBLIC_BASE_URL?: string | undefined;
}

export interface ApiDeps {
  settings: ApiSettings;
  jobs: JobRepository;
  events: JobEvents;
  /** Live previews for event streams opened with `?previews=1`; absent: such streams carry none. */
  previews?: JobPreviews;
  queue: GenerationQueue;
  apiKeys: ApiKeyRepository;
  rateLimiter: RateLimiter;
  storage: Presigner & { ping(): Promise<boolean>; read(key: string): Promise<Buffer> };
  /** The jobs each OpenAI-adapter request started, so the SDK's own retries attach to them. */
  anchors: RequestAnchors;
  moderator: PromptModerator;
  /**
   * The models the workers run, as they registered them: what they draw (for `outside_model_domain`) and,
   * for /readyz, their revision and native size.
   */
  modelDomains: () => Promise<readonly RegisteredModel[]>;
  /** Why a webhook URL is refused (SSRF policy and allow-list), or null. */
  webhookRefusal: (url: string) => Promise<string | null>;
  newObjectKey: (format: 'jpeg' | 'png') => string;
  metrics: Metrics;
  logger: Logger;
  pingRedis: () => Promise<boolean>;
  /** Redis's used memory and maxmemory for /readyz and the metrics (issue 17, finding 5). */
  redisMemory?: () => Promise<{ used: number; max: number } | null>;
  /** BullMQ's queues for the admin dashboard at /admin/queues (mounted only with ADMIN_API_KEY). */
  boardQueues?: readonly InspectedQueue[];
  /** The streams and waits each key holds here: caps, and their end when the key is revoked. */
  openRequests?: OpenRequests;
  /** Job record reads shared by the waits and streams of one job (services/shared-reads.ts). */
  jobReads?: Pick<JobRepository, 'get' | 'queuePosition'>;
  /** Result reuse (RESULT_CACHE; see SubmitDeps); absent: nothing is cached. */
  resultCache?: SubmitDeps['resultCache'];
  /** Confirms a submit reached the Redis replicas before it is answered 202 (see SubmitDeps). */
  durability?: SubmitDeps['durability'];
  /** Drops the enqueue intents of submits without round trips of their own (the lean submit). */
  intents?: { clear(id: string): void; take(): string[] };
  /**
   * Aborted when the process starts shutting down: waits answer at once with the job as it is, event
   * streams end (clients reconnect with Last-Event-ID to another or the restarted process).
   */
  shutdown?: AbortSignal;
  /** The playground at `/` (apps/web's build); without it `/` is a 404 like any unknown path. */
  playground?: PlaygroundOptions;
}

/** The Express application; no ports, no environment: tests build it with their own deps. */
export function createApp(deps: ApiDeps): express.Express {
  const s = deps.settings;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestContext({ metrics: deps.metrics, shutdown: deps.shutdown }));
  app.use(
    opsRoutes({
      ...deps,
      pingStorage: () => deps.storage.ping(),
      metricsToken: s.METRICS_TOKEN,
      opsLimit: opsRateLimit(s.OPS_RATE_LIMIT_PER_MINUTE ?? DEFAULT_OPS_RATE_LIMIT_PER_MINUTE),
    }),
  );

  const json = jsonBody({ limitBytes: s.BODY_LIMIT_BYTES });
  const limiter = deps.rateLimiter;
  const authFailures = {
    limiter,
    perMinute: s.AUTH_FAILURES_PER_MINUTE ?? DEFAULT_AUTH_FAILURES_PER_MINUTE,
  };
  if (s.ADMIN_API_KEY) {
    app.use('/admin/v1', adminRouter(s.ADMIN_API_KEY, deps.apiKeys, json, authFailures, deps));
    if (deps.boardQueues) {
      app.use(
        QUEUE_BOARD_PATH,
        queueBoard({ adminKey: s.ADMIN_API_KEY, queues: deps.boardQueues, authFailures }),
      );
    }
  }

  const routeDeps = {
    ...deps,
    auth: authenticate({ apiKeys: deps.apiKeys, authFailures }),
    readLimit: rateLimit({ limiter, bucket: 'read', perMinute: s.READ_RATE_LIMIT_PER_MINUTE }),
    writeLimit: rateLimit({ limiter, bucket: 'write', perMinute: s.RATE_LIMIT_PER_MINUTE }),
  };
  const limits = {
    concurrency: s.CONCURRENCY_LIMIT,
    queueBound: s.QUEUE_MAX_WAITING,
    queueDeadlineMs: s.QUEUE_DEADLINE_MS,
  };
  app.use(
    generationRoutes({
      ...routeDeps,
      json,
      maxWaitS: s.MAX_WAIT_S,
      limits,
      // The lean submit wherever the job store can authenticate inside its submit (Redis).
      ...('submitGated' in deps.jobs
        ? {
            leanSubmit: {
              authFailuresPerMinute: authFailures.perMinute,
              writePerMinute: s.RATE_LIMIT_PER_MINUTE,
              takeIntents: () => deps.intents?.take() ?? [],
            },
          }
        : {}),
      ...(deps.intents ? { clearIntent: (id: string) => deps.intents!.clear(id) } : {}),
    }),
  );
  app.use(
    openAIRoutes({
      ...routeDeps,
      json,
      limits,
      writeLimit: { limiter, perMinute: s.RATE_LIMIT_PER_MINUTE },
      maxWaitS: s.MAX_WAIT_S,
      bodyLimitBytes: s.BODY_LIMIT_BYTES,
    }),
  );
  app.use(
    bflRoutes({
      ...routeDeps,
      json,
      limits,
      publicBaseUrl: s.PUBLIC_BASE_URL,
      bodyLimitBytes: s.BODY_LIMIT_BYTES,
    }),
  );
  app.use(eventRoutes(routeDeps));
  app.use(promptRoutes({ ...routeDeps, json }));
  if (deps.playground) app.use(playgroundRoutes(deps.playground));

  app.use(methodNotAllowed(knownPaths(s.ADMIN_API_KEY !== undefined, deps.playground !== undefined)));
  app.use(() => {
    throw notFound('no such endpoint; see /openapi.json');
  });
  app.use(errorHandler({ logger: deps.logger, bodyLimitBytes: s.BODY_LIMIT_BYTES }));
  return app;
}
