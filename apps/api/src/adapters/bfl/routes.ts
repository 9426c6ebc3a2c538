import { Router, type RequestHandler } from 'express';

import { AppError } from '@imagegen/contracts';
import { bflNotFound, bflResult, jobView, type JobRepository, type Presigner } from '@imagegen/jobs';

import { ctx } from '../../http/middleware.js';
import { methodNotAllowed } from '../../http/method-not-allowed.js';
import { notFound } from '../../services/errors.js';
import { cacheModeFrom, JOB_ID, submitGeneration, type SubmitDeps } from '../../services/submit.js';
import { bflErrorHandler } from './errors.js';
import { nativeBody, parseBflRequest, resultId } from './request.js';

export interface BflRoutesDeps extends SubmitDeps {
  jobs: SubmitDeps['jobs'] & Pick<JobRepository, 'queuePosition'>;
  storage: Presigner;
  /** Where clients reach this server (`PUBLIC_BASE_URL`); the submit route is refused without it. */
  publicBaseUrl: string | undefined;
  auth: RequestHandler;
  readLimit: RequestHandler;
  writeLimit: RequestHandler;
  json: RequestHandler[];
  bodyLimitBytes: number;
}

/** A model name as BFL's paths spell them (`flux-pro-1.1-ultra`, `flux-dev`, `flux-2-pro`). */
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * BFL's API over the service's jobs (base URL `/bfl/v1`): `POST /{model}` for any model name answers
 * `{id, polling_url}`; `GET /get_result?id=` answers BFL's status strings and `result.sample`.
 */
export function bflRoutes(deps: BflRoutesDeps): Router {
  const router = Router();
  const base = deps.publicBaseUrl?.replace(/\/+$/, '');

  router.get('/bfl/v1/get_result', deps.auth, deps.readLimit, async (req, res) => {
    const id = resultId(req.query);
    const record = JOB_ID.test(id) ? await deps.jobs.get(id) : null;
    if (!record || record.keyId !== ctx(res).keyId) {
      res.json(bflNotFound(id));
      return;
    }
    res.json(bflResult(await jobView(record, deps.jobs, deps.storage)));
  });

  router.post('/bfl/v1/get_result', (_req, res) => {
    res.setHeader('Allow', 'GET, HEAD');
    throw new AppError('method_not_allowed', 'POST is not supported here; use GET', { httpStatus: 405 });
  });

  router.post('/bfl/v1/:model', deps.auth, deps.writeLimit, ...deps.json, async (req, res) => {
    const model = String(req.params['model']);
    if (!MODEL.test(model))
      throw notFound(`no model ${JSON.stringify(model)}: use a name such as flux-pro-1.1-ultra`);
    if (!base) {
      throw new AppError(
        'service_unavailable',
        'this server has no PUBLIC_BASE_URL, so it cannot give BFL clients a polling_url: its operator must set PUBLIC_BASE_URL',
        { httpStatus: 501 },
      );
    }
    const body = parseBflRequest(req.body);
    const { record } = await submitGeneration(deps, {
      keyId: ctx(res).keyId!,
      requestId: ctx(res).requestId,
      body: nativeBody(body, model),
      cache: cacheModeFrom(req.header('cache-control')),
      onRefused: 'record',
      webhookExtras: {
        format: 'bfl',
        ...(body.webhook_secret ? { secret: body.webhook_secret } : {}),
      },
    });
    const pollingUrl = `${base}/bfl/v1/get_result?id=${record.id}`;
    res.json(
      body.webhook_url
        ? { id: record.id, status: 'Pending', webhook_url: body.webhook_url, polling_url: pollingUrl }
        : { id: record.id, polling_url: pollingUrl },
    );
  });

  router.use(
    '/bfl/v1',
    methodNotAllowed([
      // Paths relative to the mount point.
      { pattern: /^\/get_result\/?$/, methods: ['GET'] },
      { pattern: /^\/[^/]+\/?$/, methods: ['POST'] },
    ]),
  );
  router.use('/bfl/v1', () => {
    throw notFound(
      'no such endpoint: this server offers POST /bfl/v1/{model} and GET /bfl/v1/get_result?id=',
    );
  });
  router.use('/bfl/v1', bflErrorHandler({ logger: deps.logger, bodyLimitBytes: deps.bodyLimitBytes }));
  return router;
}
