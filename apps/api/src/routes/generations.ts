import { Router, type RequestHandler } from 'express';

import { TERMINAL_STATUSES, type Job, type JobRecord } from '@imagegen/contracts';
import { jobView, type JobEvents, type JobRepository, type Presigner } from '@imagegen/jobs';

import { ctx } from '../http/middleware.js';
import { cancelGeneration, type CancelDeps } from '../services/cancel.js';
import { invalidRequest } from '../services/errors.js';
import { listGenerations } from '../services/list.js';
import { readOwnedJob } from '../services/read.js';
import { submitGeneration, type SubmitDeps } from '../services/submit.js';
import { parseWaitSeconds, waitForTerminal } from '../services/wait.js';

export interface GenerationRoutesDeps
  extends Omit<SubmitDeps, 'jobs' | 'queue'>, Omit<CancelDeps, 'jobs' | 'queue'> {
  jobs: SubmitDeps['jobs'] & CancelDeps['jobs'] & Pick<JobRepository, 'queuePosition' | 'listForKey'>;
  queue: SubmitDeps['queue'] & CancelDeps['queue'];
  events: Pick<JobEvents, 'listen'>;
  storage: Presigner;
  maxWaitS: number;
  auth: RequestHandler;
  readLimit: RequestHandler;
  writeLimit: RequestHandler;
  json: RequestHandler[];
}

function waitParam(value: unknown, max: number, param: string): number {
  const n = parseWaitSeconds(value, max);
  if (n === null)
    throw invalidRequest(`${param} must be a whole number of seconds between 0 and ${max}`, param);
  return n;
}

/** `POST /v1/images/generations`, `GET` (the key's list), `GET …/{id}` (optionally waiting), `POST …/{id}/cancel`. */
export function generationRoutes(deps: GenerationRoutesDeps): Router {
  const router = Router();
  const view = (r: JobRecord): Promise<Job> => jobView(r, deps.jobs, deps.storage);

  router.post('/v1/images/generations', deps.auth, deps.writeLimit, ...deps.json, async (req, res) => {
    const c = ctx(res);
    const {
      record,
      replayed,
      waitS: wait,
    } = await submitGeneration(deps, {
      keyId: c.keyId!,
      requestId: c.requestId,
      body: req.body,
      idempotencyKey: req.header('idempotency-key'),
      prefer: req.header('prefer'),
      maxWaitS: deps.maxWaitS,
    });
    if (replayed) res.setHeader('Idempotent-Replayed', 'true');
    if (wait > 0) res.setHeader('Preference-Applied', `wait=${wait}`);
    const final = await waitForTerminal(deps, record, wait);
    res.setHeader('Location', `/v1/images/generations/${final.id}`);
    res.status(TERMINAL_STATUSES.includes(final.status) && wait > 0 ? 200 : 202).json(await view(final));
  });

  router.get('/v1/images/generations', deps.auth, deps.readLimit, async (req, res) => {
    const page = await listGenerations(deps, ctx(res).keyId!, req.query);
    res.json({
      object: 'list',
      data: await Promise.all(page.records.map(view)),
      next_cursor: page.nextCursor,
    });
  });

  router.get('/v1/images/generations/:id', deps.auth, deps.readLimit, async (req, res) => {
    const record = await readOwnedJob(deps.jobs, ctx(res).keyId!, String(req.params['id']));
    const wait = waitParam(req.query['wait'], deps.maxWaitS, 'wait');
    res.json(await view(await waitForTerminal(deps, record, wait)));
  });

  router.post('/v1/images/generations/:id/cancel', deps.auth, deps.writeLimit, async (req, res) => {
    const record = await readOwnedJob(deps.jobs, ctx(res).keyId!, String(req.params['id']));
    const result = await cancelGeneration(deps, record);
    res.status(result.canceled ? 200 : 202).json(await view(result.record));
  });

  return router;
}
