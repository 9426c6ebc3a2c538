import { createHash, randomBytes } from 'node:crypto';

import { Router, type RequestHandler, type Response } from 'express';

import { AppError, TERMINAL_STATUSES, type JobRecord } from '@imagegen/contracts';
import type { Presigner, RequestAnchors } from '@imagegen/jobs';
import type { ModelDomain } from '@imagegen/prompt';

import { methodNotAllowed } from '../../http/method-not-allowed.js';
import { ctx, takeTokens, type RateLimitOptions } from '../../http/middleware.js';
import { submitBatch, waitForAll, type BatchDeps } from '../../services/batch.js';
import { invalidRequest, notFound } from '../../services/errors.js';
import { cacheModeFrom, canonicalJson } from '../../services/submit.js';
import { openAIErrorHandler } from './errors.js';
import { parseOpenAIRequest, nativeBodies, type OpenAIImageRequest } from './request.js';
import { openImageStream, streamImage, type OpenAIStreamDeps, type OpenedStream } from './stream.js';

export interface OpenAIRoutesDeps extends Omit<BatchDeps, 'jobs'>, Omit<OpenAIStreamDeps, 'jobs' | 'events'> {
  jobs: BatchDeps['jobs'] & OpenAIStreamDeps['jobs'];
  storage: Presigner & { read(key: string): Promise<Buffer> };
  events: OpenAIStreamDeps['events'];
  anchors: RequestAnchors;
  modelDomains: () => Promise<readonly ModelDomain[]>;
  auth: RequestHandler;
  json: RequestHandler[];
  readLimit: RequestHandler;
  /** The submit bucket: one request of `n` images takes n tokens. */
  writeLimit: Omit<RateLimitOptions, 'bucket'>;
  maxWaitS: number;
  bodyLimitBytes: number;
}

/** How long the jobs of one request stay attached to it for the SDK's retries (its backoff tops at 60 s). */
const ANCHOR_TTL_S = 15 * 60;

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * How long the answer may wait: MAX_WAIT_S, and less than the SDK's own timeout (`X-Stainless-Timeout`,
 * seconds) so that it hears the answer instead of timing out and retrying.
 */
function waitSeconds(maxWaitS: number, clientTimeout: string | undefined): number {
  const t = Number(clientTimeout);
  return Number.isFinite(t) && t > 0 ? Math.max(0, Math.min(maxWaitS, Math.floor(t) - 2)) : maxWaitS;
}

const failedForGood = (r: JobRecord) =>
  r.status === 'failed' || r.status === 'expired' || r.status === 'canceled';

/**
 * The OpenAI Images API over the service's jobs (base URL `/openai/v1`): `POST /images/generations`
 * answers synchronously within MAX_WAIT_S, `GET /models` lists what the workers run. Errors come in
 * OpenAI's shape with `x-should-retry`.
 */
export function openAIRoutes(deps: OpenAIRoutesDeps): Router {
  const router = Router();

  router.get('/openai/v1/models', deps.auth, deps.readLimit, async (_req, res) => {
    const models = await deps.modelDomains();
    res.json({
      object: 'list',
      data: models.map((m) => ({
        id: m.name,
        object: 'model',
        created: seconds((m as { registeredAt?: number }).registeredAt ?? 0),
        owned_by: 'imagegen',
      })),
    });
  });

  router.post('/openai/v1/images/generations', deps.auth, ...deps.json, async (req, res) => {
    const body = parseOpenAIRequest(req.body);
    const keyId = ctx(res).keyId!;
    const digest = createHash('sha256').update(canonicalJson(req.body)).digest('hex');
    const attached = await attachToFirstAttempt(deps, req.header('x-stainless-retry-count'), keyId, digest);
    const { records, stream } = attached
      ? {
          records: attached,
          stream: body.stream ? await openImageStream(deps, keyId, attached[0]!.id) : null,
        }
      : await startJobs(deps, res, body, keyId, digest);
    const wait = waitSeconds(deps.maxWaitS, req.header('x-stainless-timeout'));
    if (stream) {
      await streamImage(deps, res, body, records[0]!, stream, wait, (r) => jobError(r, 0, 1), timeoutError);
      return;
    }
    await answer(deps, res, body, await waitForAll(deps, records, wait));
  });

  router.use(
    '/openai/v1',
    methodNotAllowed([
      // Paths relative to the mount point.
      { pattern: /^\/images\/generations\/?$/, methods: ['POST'] },
      { pattern: /^\/models\/?$/, methods: ['GET'] },
    ]),
  );
  router.use('/openai/v1', () => {
    throw notFound(
      'no such endpoint: this server offers POST /openai/v1/images/generations and GET /openai/v1/models (image edits and variations are not offered)',
    );
  });
  router.use('/openai/v1', openAIErrorHandler({ logger: deps.logger, bodyLimitBytes: deps.bodyLimitBytes }));
  return router;
}

/**
 * A retry of the SDK (`X-Stainless-Retry-Count` > 0) with the same key and body finds the jobs its first
 * attempt started, unless one of them failed for good (then the retry starts afresh).
 */
async function attachToFirstAttempt(
  deps: OpenAIRoutesDeps,
  retryCount: string | undefined,
  keyId: string,
  digest: string,
): Promise<JobRecord[] | null> {
  if (!(Number(retryCount) > 0)) {
    // A new request: forget the jobs of an earlier one with the same body, so that this request's own
    // retries (after a 429, before it made any job) cannot attach to them.
    await deps.anchors.remember(keyId, digest, [], ANCHOR_TTL_S);
    return null;
  }
  const ids = await deps.anchors.recall(keyId, digest);
  if (!ids || ids.length === 0) return null;
  const records = await Promise.all(ids.map((id) => deps.jobs.get(id)));
  if (records.some((r) => r === null || r.keyId !== keyId || failedForGood(r))) return null;
  deps.logger.info({ keyId, jobIds: ids }, 'openai retry attached to its first attempt');
  return records as JobRecord[];
}

async function startJobs(
  deps: OpenAIRoutesDeps,
  res: Response,
  body: OpenAIImageRequest,
  keyId: string,
  digest: string,
): Promise<{ records: JobRecord[]; stream: OpenedStream | null }> {
  const n = body.n ?? 1;
  if (body.stream && n > 1) {
    throw invalidRequest('stream: true makes one image: ask for n: 1, or leave stream out', 'stream');
  }
  if (n > deps.limits.concurrency) {
    throw invalidRequest(
      `n is ${n} but this API key may run at most ${deps.limits.concurrency} generations at once; ask for at most ${deps.limits.concurrency}`,
      'n',
    );
  }
  await takeTokens({ ...deps.writeLimit, bucket: 'write' }, res, n);
  const seed = body.seed ?? (deps.randomSeed ?? (() => randomBytes(4).readUInt32BE(0)))();
  let stream: OpenedStream | null = null;
  const records = await submitBatch(
    deps,
    {
      keyId,
      requestId: ctx(res).requestId,
      // Only a seed the client chose makes a request cacheable.
      cache:
        body.seed === null || body.seed === undefined
          ? 'off'
          : cacheModeFrom(res.req.header('cache-control')),
      // Subscribed to the job's events and previews before any worker can take it: no preview is missed.
      ...(body.stream
        ? {
            beforeEnqueue: async (id: string) => {
              stream = await openImageStream(deps, keyId, id);
            },
          }
        : {}),
    },
    nativeBodies(body, seed),
  );
  await deps.anchors.remember(
    keyId,
    digest,
    records.map((r) => r.id),
    ANCHOR_TTL_S,
  );
  return { records, stream };
}

/** The jobs' outcome as OpenAI answers: every image, or the first reason there is none. */
async function answer(
  deps: OpenAIRoutesDeps,
  res: Response,
  body: OpenAIImageRequest,
  records: readonly JobRecord[],
): Promise<void> {
  const running = records.filter((r) => !TERMINAL_STATUSES.includes(r.status));
  if (running.length > 0) throw timeoutError(running.map((r) => r.id).join(', '));
  for (const [i, r] of records.entries()) {
    if (r.status === 'succeeded') continue;
    throw jobError(r, i, records.length);
  }
  const data = await Promise.all(
    records.map(async (r) => {
      const image = r.image!;
      const revised = r.revisedPrompt ?? image.revised_prompt;
      const item: { url?: string; b64_json?: string; revised_prompt?: string } = {};
      if (body.response_format === 'b64_json') {
        item.b64_json = (await deps.storage.read(image.key)).toString('base64');
      } else {
        const signed = r.completedAt === null ? null : await deps.storage.presign(image.key, r.completedAt);
        if (!signed)
          throw new AppError('internal_error', `the image of ${r.id} already expired`, { httpStatus: 500 });
        item.url = signed.url;
      }
      if (revised) item.revised_prompt = revised;
      return item;
    }),
  );
  res.json({
    created: seconds(Math.min(...records.map((r) => r.createdAt))),
    data,
    background: 'opaque',
    output_format: records[0]!.input.output_format,
  });
}

/** 504 for jobs that outlived the wait: they go on, and the message names them. */
function timeoutError(ids: string): AppError {
  return new AppError(
    'timeout',
    `the images were not ready within the server's wait; the jobs go on (${ids}): read them at /v1/images/generations/{id} instead of sending this request again`,
    { httpStatus: 504 },
  );
}

/** Why a terminal job has no image, as the OpenAI error its client expects. */
function jobError(r: JobRecord, index: number, n: number): AppError {
  const which = n > 1 ? `image ${index + 1} of ${n} (${r.id})` : `the image (${r.id})`;
  switch (r.status) {
    case 'moderated':
      return new AppError(
        'content_policy_violation',
        r.moderation?.stage === 'output'
          ? `Your request was rejected by the safety system: ${which} was withheld by the image safety check${r.moderation.category ? ` (${r.moderation.category})` : ''}; change the prompt`
          : `Your request was rejected by the safety system: ${r.error?.message ?? 'the prompt was refused'}`,
        { httpStatus: 400, param: 'prompt' },
      );
    case 'expired':
      return new AppError('queue_full', `${which} waited past the queue deadline; retry later`, {
        httpStatus: 503,
        retryAfterS: 5,
      });
    case 'canceled':
      return new AppError('conflict', `${which} was canceled`, { httpStatus: 409 });
    case 'failed':
    case 'queued':
    case 'processing':
    case 'succeeded':
      // Only failed reaches here: the caller answers the running and succeeded ones.
      return new AppError(
        'generation_failed',
        `${which} failed: ${r.error?.message ?? 'unknown error'}`,
        r.error?.retryable ? { httpStatus: 503, retryAfterS: 1 } : { httpStatus: 500 },
      );
  }
}
