import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';

import express, { type NextFunction, type Request, type Response } from 'express';

import { CreateGenerationRequest, openApiDocument, TERMINAL_STATUSES, type Job } from '@imagegen/contracts';
import type { Logger, Metrics } from '@imagegen/observability';
import {
  GENERATION_JOB_OPTIONS,
  jobView,
  type ApiKeyStore,
  type GenerationPayload,
  type JobRecord,
  type JobStore,
  type JobWebhook,
} from '@imagegen/jobs';
import { newObjectKey, type ObjectStore } from '@imagegen/storage';
import {
  analyzePrompt,
  createModerator,
  lintPrompt,
  refusalMessage,
  type PromptModerator,
} from '@imagegen/prompt';
import { webhookUrlRefusal, type Allowlist } from '@imagegen/webhooks';
import type { Queue } from 'bullmq';

import type { ApiConfig } from './config.js';
import { adminRouter } from './admin.js';
import { ApiError, notFound } from './errors.js';
import type { EventHub } from './event-hub.js';

export interface ApiDeps {
  config: ApiConfig;
  jobs: JobStore;
  apiKeys: ApiKeyStore;
  queue: Queue<GenerationPayload>;
  storage: ObjectStore;
  hub: EventHub;
  metrics: Metrics;
  logger: Logger;
  /** Redis liveness for /readyz. */
  pingRedis: () => Promise<boolean>;
  /** Webhook targets exempt from the SSRF policy (IMAGEGEN_WEBHOOK_ALLOWLIST, parsed). */
  webhookAllowlist: Allowlist;
  /**
   * Aborted when the process starts shutting down: waits answer at once with the job as it is, event
   * streams end (clients reconnect with Last-Event-ID to another or the restarted process).
   */
  shutdown?: AbortSignal;
  /** Prompt moderation: the word lists, plus a moderation model when configured. Default: word lists. */
  moderator?: PromptModerator;
}

type Authed = Request & { keyId?: string; requestId?: string };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const JOB_ID = /^gen_[A-Za-z0-9]{24}$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Canonical JSON (sorted keys) so equal bodies hash equally whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function newJobId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  for (const b of randomBytes(24)) id += alphabet.charAt(b % 62);
  return `gen_${id}`;
}

/** `Prefer: wait=N` (RFC 7240) or `?wait=N`, clamped to [0, max]. */
function waitSeconds(value: unknown, max: number, param: string): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d{1,4}$/.test(value) || !Number.isInteger(n)) {
    throw new ApiError(
      400,
      'invalid_request',
      `${param} must be a whole number of seconds between 0 and ${max}`,
      param,
    );
  }
  return Math.min(n, max);
}

/** The Express application; no ports, no environment: tests build it with their own deps. */
export function createApp(deps: ApiDeps): express.Express {
  const { config, jobs, apiKeys, queue, storage, hub, metrics, logger } = deps;
  const moderator = deps.moderator ?? createModerator(null);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req: Authed, res, next) => {
    const given = req.header('x-request-id');
    req.requestId = given && REQUEST_ID.test(given) ? given : `req_${randomBytes(12).toString('hex')}`;
    res.setHeader('X-Request-Id', req.requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    if (deps.shutdown?.aborted) res.setHeader('Connection', 'close');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics.httpDuration.observe(
        { method: req.method, route, status: String(res.statusCode) },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });
    next();
  });

  // ---- operations (no authentication) ----
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const [redis, s3] = await Promise.all([deps.pingRedis(), storage.ping()]);
    res
      .status(redis && s3 ? 200 : 503)
      .json({ status: redis && s3 ? 'ready' : 'not_ready', redis, storage: s3 });
  });
  app.get('/metrics', async (_req, res) => {
    try {
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed');
      for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ state }, n);
    } catch {
      // Redis is down: serve the process metrics anyway.
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/openapi.json', (req, res) => {
    res.json(openApiDocument(`${req.protocol}://${req.get('host') ?? 'localhost'}`));
  });

  // ---- authentication ----
  const auth = async (req: Authed, _res: Response, next: NextFunction) => {
    const header = req.header('authorization');
    const secret = header?.startsWith('Bearer ') ? header.slice(7).trim() : req.header('x-key');
    const keyId = secret ? await apiKeys.verify(secret) : null;
    if (!keyId) {
      throw new ApiError(
        401,
        'unauthorized',
        'send a valid API key as "Authorization: Bearer <key>" or "x-key: <key>"',
        undefined,
        {
          'WWW-Authenticate': 'Bearer realm="imagegen"',
        },
      );
    }
    req.keyId = keyId;
    next();
  };

  const limit = (bucket: 'write' | 'read') => async (req: Authed, res: Response, next: NextFunction) => {
    const perMinute = bucket === 'write' ? config.RATE_LIMIT_PER_MINUTE : config.READ_RATE_LIMIT_PER_MINUTE;
    const t = await jobs.takeToken(`${req.keyId!}:${bucket}`, perMinute);
    // IETF draft-ietf-httpapi-ratelimit-headers: limit, remaining, seconds until a token is back.
    res.setHeader('RateLimit-Limit', String(perMinute));
    res.setHeader('RateLimit-Remaining', String(t.remaining));
    res.setHeader('RateLimit-Reset', String(Math.ceil(t.retryAfterMs / 1000)));
    if (!t.allowed) {
      throw new ApiError(
        429,
        'rate_limited',
        `this API key is limited to ${perMinute} requests per minute here; retry after the Retry-After delay`,
        undefined,
        {
          'Retry-After': String(Math.max(1, Math.ceil(t.retryAfterMs / 1000))),
        },
      );
    }
    next();
  };

  const json = express.json({
    limit: config.BODY_LIMIT_BYTES,
    strict: true,
    type: () => true,
    // The decoder would quietly turn malformed UTF-8 into U+FFFD; refuse it instead.
    verify: (_req, _res, buf, encoding) => {
      if (encoding === 'utf-8' && !isUtf8(buf)) {
        throw new ApiError(400, 'invalid_request', 'the body is not valid UTF-8: send JSON encoded as UTF-8');
      }
    },
  });
  const requireJson = (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('application/json')) {
      throw new ApiError(
        415,
        'unsupported_media_type',
        'send the body as JSON with "Content-Type: application/json"',
      );
    }
    next();
  };

  // ---- administration (off unless ADMIN_API_KEY is set) ----
  if (config.ADMIN_API_KEY)
    app.use('/admin/v1', adminRouter(config.ADMIN_API_KEY, apiKeys, [requireJson, json]));

  const loadOwned = async (req: Authed): Promise<JobRecord> => {
    const id = String(req.params['id']);
    if (!JOB_ID.test(id)) throw notFound();
    const record = await jobs.get(id);
    if (!record || record.keyId !== req.keyId) throw notFound();
    return record;
  };

  /** Resolves once the job is terminal or `seconds` pass; returns the latest record. */
  const waitTerminal = async (record: JobRecord, seconds: number): Promise<JobRecord> => {
    if (seconds <= 0 || TERMINAL_STATUSES.includes(record.status)) return record;
    let wake: () => void = () => undefined;
    const stop = hub.listen(record.id, () => wake());
    const onShutdown = () => wake();
    deps.shutdown?.addEventListener('abort', onShutdown);
    const deadline = Date.now() + seconds * 1000;
    try {
      let current = (await jobs.get(record.id)) ?? record;
      while (
        !TERMINAL_STATUSES.includes(current.status) &&
        Date.now() < deadline &&
        deps.shutdown?.aborted !== true
      ) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          // Re-read at least every 2 s in case a notification was missed.
          setTimeout(resolve, Math.min(2000, Math.max(0, deadline - Date.now())));
        });
        current = (await jobs.get(record.id)) ?? current;
      }
      return current;
    } finally {
      stop();
      deps.shutdown?.removeEventListener('abort', onShutdown);
    }
  };

  const view = (r: JobRecord): Promise<Job> => jobView(r, jobs, storage);

  // ---- generations ----
  app.post(
    '/v1/images/generations',
    auth,
    limit('write'),
    requireJson,
    json,
    async (req: Authed, res: Response) => {
      const parsed = CreateGenerationRequest.safeParse(req.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
        const param = keys.length > 0 ? keys[0]! : issue.path.join('.') || undefined;
        const message =
          keys.length > 0
            ? `unknown field "${keys[0]!}": remove it (fields are documented at /openapi.json)`
            : issue.message;
        throw new ApiError(
          400,
          'invalid_request',
          issue.path.length === 0 && keys.length === 0 ? 'the body must be a JSON object' : message,
          param,
        );
      }
      const body = parsed.data;
      // Content policy before anything is queued: the refusal names the category, never the words.
      const verdict = await moderator.moderate([body.prompt], body.safety_tolerance);
      if (verdict.classifier_error) {
        metrics.moderationErrors.inc({ reason: verdict.classifier_error });
        logger.warn({ reason: verdict.classifier_error }, 'moderation model unavailable; word lists only');
      }
      if (!verdict.allowed && verdict.category) {
        metrics.promptsRefused.inc({ category: verdict.category, stage: 'submit' });
        throw new ApiError(
          400,
          'content_policy_violation',
          refusalMessage(verdict.category),
          'prompt',
          {},
          { category: verdict.category },
        );
      }
      const analysis = analyzePrompt(body.prompt);
      const insights = {
        analysis: analysis as unknown as Record<string, unknown>,
        warnings: lintPrompt(body.prompt, analysis),
      };
      let webhook: JobWebhook | null = null;
      if (body.webhook_url !== undefined) {
        const refusal = await webhookUrlRefusal(body.webhook_url, deps.webhookAllowlist);
        if (refusal) {
          throw new ApiError(
            400,
            'invalid_request',
            `webhook_url is refused: ${refusal}; give a public https URL`,
            'webhook_url',
          );
        }
        webhook = {
          url: body.webhook_url,
          events: [...new Set(body.webhook_events ?? (['completed'] as const))],
        };
      } else if (body.webhook_events !== undefined) {
        throw new ApiError(
          400,
          'invalid_request',
          'webhook_events needs webhook_url: add the URL or remove webhook_events',
          'webhook_events',
        );
      }
      const idemHeader = req.header('idempotency-key');
      if (idemHeader !== undefined && (idemHeader.length < 1 || idemHeader.length > 255)) {
        throw new ApiError(
          400,
          'invalid_request',
          'Idempotency-Key must be 1 to 255 characters',
          'Idempotency-Key',
        );
      }
      const prefer = /(?:^|[,;\s])wait=(\d+)/.exec(req.header('prefer') ?? '')?.[1];
      const wait = waitSeconds(prefer, config.MAX_WAIT_S, 'Prefer');
      const now = Date.now();
      const id = newJobId();
      const input = {
        prompt: body.prompt,
        aspect_ratio: body.aspect_ratio,
        output_format: body.output_format,
        seed: body.seed ?? randomBytes(4).readUInt32BE(0),
        prompt_upsampling: body.prompt_upsampling,
        safety_tolerance: body.safety_tolerance,
      };
      const idem = idemHeader
        ? { keyDigest: sha256(idemHeader), bodyDigest: sha256(canonical(req.body)), ttlSeconds: 86_400 }
        : null;
      const outcome = await jobs.submit(
        {
          id,
          keyId: req.keyId!,
          input,
          metadata: body.metadata ?? {},
          requestId: req.requestId!,
          createdAt: now,
          deadlineAt: now + config.QUEUE_DEADLINE_MS,
          webhook,
          insights,
        },
        { concurrency: config.CONCURRENCY_LIMIT, queueBound: config.QUEUE_MAX_WAITING },
        idem,
      );
      let record: JobRecord | null;
      switch (outcome.kind) {
        case 'queue_full':
          throw new ApiError(
            503,
            'queue_full',
            'the queue is full; retry after the Retry-After delay',
            undefined,
            { 'Retry-After': '30' },
          );
        case 'concurrency':
          throw new ApiError(
            429,
            'concurrency_limit_exceeded',
            `this API key already has ${outcome.active} unfinished generations (limit ${config.CONCURRENCY_LIMIT}); wait for one to finish`,
            undefined,
            { 'Retry-After': '5' },
          );
        case 'idempotent': {
          if (outcome.bodyDigest !== idem!.bodyDigest) {
            throw new ApiError(
              409,
              'idempotency_conflict',
              'this Idempotency-Key was already used with a different body; use a new key',
              'Idempotency-Key',
            );
          }
          record = await jobs.get(outcome.jobId);
          if (!record)
            throw new ApiError(
              409,
              'idempotency_conflict',
              'the job of this Idempotency-Key no longer exists; use a new key',
              'Idempotency-Key',
            );
          res.setHeader('Idempotent-Replayed', 'true');
          break;
        }
        case 'created': {
          try {
            await queue.add(
              'generate',
              { id, keyId: req.keyId!, objectKey: newObjectKey(input.output_format) },
              { ...GENERATION_JOB_OPTIONS, jobId: id },
            );
          } catch (e) {
            await jobs.unsubmit({ id, keyId: req.keyId! }, idem?.keyDigest ?? null).catch(() => undefined);
            logger.error({ err: e, jobId: id }, 'enqueue failed');
            throw new ApiError(
              503,
              'service_unavailable',
              'the queue is unavailable; retry shortly',
              undefined,
              { 'Retry-After': '5' },
            );
          }
          metrics.jobsSubmitted.inc();
          logger.info({ jobId: id, keyId: req.keyId, requestId: req.requestId }, 'job submitted');
          record = await jobs.get(id);
          break;
        }
      }
      if (!record) throw new ApiError(500, 'internal_error', 'the job vanished after it was created');
      if (wait > 0) res.setHeader('Preference-Applied', `wait=${wait}`);
      const final = await waitTerminal(record, wait);
      res.setHeader('Location', `/v1/images/generations/${final.id}`);
      res.status(TERMINAL_STATUSES.includes(final.status) && wait > 0 ? 200 : 202).json(await view(final));
    },
  );

  app.get('/v1/images/generations/:id', auth, limit('read'), async (req: Authed, res: Response) => {
    const record = await loadOwned(req);
    const wait = waitSeconds(req.query['wait'], config.MAX_WAIT_S, 'wait');
    res.json(await view(await waitTerminal(record, wait)));
  });

  app.post('/v1/images/generations/:id/cancel', auth, limit('write'), async (req: Authed, res: Response) => {
    let record = await loadOwned(req);
    if (record.status === 'canceled') {
      res.json(await view(record));
      return;
    }
    if (TERMINAL_STATUSES.includes(record.status)) {
      throw new ApiError(
        409,
        'conflict',
        `the generation already ended as ${record.status}; nothing to cancel`,
      );
    }
    if (record.status === 'queued') {
      const done = await jobs.finish(record.id, record.keyId, 'canceled', {}, { onlyFrom: 'queued' });
      if (done.kind === 'done') await queue.remove(record.id).catch(() => 0);
    }
    // Running (or taken by a worker meanwhile): the worker stops at its next denoising step.
    if ((await jobs.requestCancel(record.id)) === 'processing') record = await waitTerminal(record, 10);
    record = (await jobs.get(record.id)) ?? record;
    if (record.status !== 'canceled' && TERMINAL_STATUSES.includes(record.status)) {
      throw new ApiError(
        409,
        'conflict',
        `the generation already ended as ${record.status}; nothing to cancel`,
      );
    }
    res.status(record.status === 'canceled' ? 200 : 202).json(await view(record));
  });

  app.get('/v1/images/generations/:id/events', auth, limit('read'), async (req: Authed, res: Response) => {
    const record = await loadOwned(req);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    let last = req.header('last-event-id') ?? '0';
    if (!/^\d+-\d+$/.test(last)) last = '0';
    let done = false;
    let pending = Promise.resolve();
    const pump = () => {
      pending = pending.then(async () => {
        if (done) return;
        for (const ev of await jobs.events(record.id, last)) {
          last = ev.id;
          let data: unknown;
          if (ev.type === 'queued') {
            const rank = await jobs.queuePosition(record.id);
            data = { queue_position: rank === null ? null : rank + 1 };
          } else if (ev.type === 'started') data = { attempt: Number(ev.fields['attempt']) };
          else if (ev.type === 'progress') {
            data = {
              stage: ev.fields['stage'],
              step: ev.fields['step'] ? Number(ev.fields['step']) : null,
              total: ev.fields['total'] ? Number(ev.fields['total']) : null,
              progress: Number(ev.fields['progress']),
            };
          } else {
            const latest = await jobs.get(record.id);
            data = latest ? await view(latest) : null;
            done = true;
          }
          res.write(`id: ${ev.id}\nevent: ${ev.type}\ndata: ${JSON.stringify(data)}\n\n`);
          if (done) break;
        }
        if (done) res.end();
      });
      pending = pending.catch(() => {
        done = true;
        res.end();
      });
    };
    const stop = hub.listen(record.id, pump);
    const poll = setInterval(pump, 5000);
    const keepalive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const cleanup = () => {
      done = true;
      stop();
      clearInterval(poll);
      clearInterval(keepalive);
      deps.shutdown?.removeEventListener('abort', endForShutdown);
    };
    // Shutting down: end the stream after what was already sent; the client reconnects with Last-Event-ID.
    const endForShutdown = () => {
      void pending.then(() => {
        cleanup();
        res.end();
      });
    };
    if (deps.shutdown?.aborted) endForShutdown();
    else deps.shutdown?.addEventListener('abort', endForShutdown);
    res.on('close', cleanup);
    pump();
    await pending;
  });

  // ---- errors ----
  app.use((_req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'not_found', 'no such endpoint; see /openapi.json'));
  });
  app.use((err: unknown, req: Authed, res: Response, _next: NextFunction) => {
    let e: ApiError;
    const status = (err as { status?: number; type?: string }).status;
    const type = (err as { type?: string }).type;
    if (err instanceof ApiError) e = err;
    else if (type === 'entity.too.large')
      e = new ApiError(413, 'payload_too_large', `the body must be at most ${config.BODY_LIMIT_BYTES} bytes`);
    else if (type === 'entity.parse.failed')
      e = new ApiError(400, 'invalid_request', 'the body is not valid JSON');
    else if (type === 'encoding.unsupported' || type === 'charset.unsupported')
      e = new ApiError(415, 'unsupported_media_type', 'send the body as UTF-8 JSON');
    else if (status !== undefined && status >= 400 && status < 500)
      e = new ApiError(400, 'invalid_request', 'the request could not be read');
    else if (
      (err as { name?: string }).name === 'MaxRetriesPerRequestError' ||
      /ECONNREFUSED|Connection is closed|Stream isn't writeable/.test(
        String((err as { message?: unknown }).message),
      )
    ) {
      e = new ApiError(
        503,
        'service_unavailable',
        'the service is temporarily unavailable; retry shortly',
        undefined,
        { 'Retry-After': '5' },
      );
    } else {
      logger.error({ err, requestId: req.requestId }, 'unhandled error');
      e = new ApiError(500, 'internal_error', 'internal error; retry later or report the request id');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    res.status(e.status).json({
      success: false,
      error: {
        code: e.code,
        message: e.message,
        ...(e.param === undefined ? {} : { param: e.param }),
        ...e.extra,
      },
      request_id: req.requestId ?? '',
    });
  });
  return app;
}
