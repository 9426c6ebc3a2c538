import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { secretDigest, secretKeyId } from '@imagegen/access';
import { AppError, TERMINAL_STATUSES, type Job, type JobRecord } from '@imagegen/contracts';
import { jobView, type JobEvents, type JobRepository, type Presigner } from '@imagegen/jobs';

import { bearerToken, clientAddress } from '../http/auth-failures.js';
import { ctx } from '../http/middleware.js';
import { cancelGeneration, type CancelDeps } from '../services/cancel.js';
import { invalidRequest } from '../services/errors.js';
import { listGenerations } from '../services/list.js';
import { readOwnedJob } from '../services/read.js';
import { cacheModeFrom, submitGeneration, type SubmitDeps } from '../services/submit.js';
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
  /**
   * The lean submit: a well-formed key is authenticated, and its write limit taken, inside the submit's
   * own atomic command (two Redis round trips in all: that command and the enqueue). Without it (the fast
   * test tier's fakes), `auth` and `writeLimit` run first as for every other route.
   */
  leanSubmit?: {
    authFailuresPerMinute: number;
    writePerMinute: number;
    /** Enqueue intents to drop in the same command (see IntentClearer). */
    takeIntents: () => string[];
  };
}

/** Runs a middleware as a promise (the classic checks, run on the lean submit's error paths). */
const run = (mw: RequestHandler, req: Request, res: Response) =>
  new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => reject(err instanceof Error ? err : new Error(String(err)));
    Promise.resolve(mw(req, res, (err?: unknown) => (err ? fail(err) : resolve()))).catch(fail);
  });

interface LeanState {
  keyId: string;
  secret: string;
  /** The gated command has answered: authentication and the write limit are decided. */
  decided: boolean;
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

  const setRate = (res: Response, perMinute: number, rate: { remaining: number; retryAfterMs: number }) => {
    res.setHeader('RateLimit-Limit', String(perMinute));
    res.setHeader('RateLimit-Remaining', String(rate.remaining));
    res.setHeader('RateLimit-Reset', String(Math.ceil(rate.retryAfterMs / 1000)));
  };
  const lean = deps.leanSubmit;
  const submitHandler: RequestHandler = async (req, res) => {
    const c = ctx(res);
    const state = res.locals['lean'] as LeanState | undefined;
    const {
      record,
      replayed,
      waitS: wait,
      position,
    } = await submitGeneration(deps, {
      keyId: state?.keyId ?? c.keyId!,
      requestId: c.requestId,
      body: req.body,
      idempotencyKey: req.header('idempotency-key'),
      prefer: req.header('prefer'),
      cache: cacheModeFrom(req.header('cache-control')),
      maxWaitS: deps.maxWaitS,
      ...(state && lean
        ? {
            gate: {
              secretHash: secretDigest(state.secret),
              authBucket: `authfail:${clientAddress(req)}`,
              authFailuresPerMinute: lean.authFailuresPerMinute,
              writeBucket: `${state.keyId}:write`,
              writePerMinute: lean.writePerMinute,
              takeIntents: lean.takeIntents,
            },
            onGated: (rate) => {
              state.decided = true;
              if (rate) setRate(res, lean.writePerMinute, rate);
            },
          }
        : {}),
    });
    if (state) c.keyId = state.keyId;
    if (replayed) res.setHeader('Idempotent-Replayed', 'true');
    if (wait > 0) res.setHeader('Preference-Applied', `wait=${wait}`);
    const final = await waitForTerminal(deps, record, wait);
    res.setHeader('Location', `/v1/images/generations/${final.id}`);
    // Unwaited, the job is answered as the submit command wrote it, position included: no read back.
    const known =
      final === record && position !== undefined
        ? jobView(final, { queuePosition: () => Promise.resolve(position) }, deps.storage)
        : view(final);
    // Finished already (a wait that saw the end, or a result reused): 200 with the final job.
    const finished = TERMINAL_STATUSES.includes(final.status) && (wait > 0 || final.cached);
    res.status(finished ? 200 : 202).json(await known);
  };
  if (lean) {
    // A missing or malformed key goes the classic way (401, charged to the address's failure budget).
    const admit = async (req: Request, res: Response, next: NextFunction) => {
      const secret = bearerToken(req.header('authorization')) ?? req.header('x-key');
      const keyId = secret ? secretKeyId(secret) : null;
      if (!secret || !keyId) {
        await run(deps.auth, req, res);
        await run(deps.writeLimit, req, res);
      } else {
        res.locals['lean'] = { keyId, secret, decided: false } satisfies LeanState;
      }
      next();
    };
    // A request refused before the gated command (bad JSON, invalid body, refused prompt) is answered as
    // the classic order would: 401 or 429 first when the key or its limit says so, then the refusal.
    const classicOrder = async (err: unknown, req: Request, res: Response, next: NextFunction) => {
      const state = res.locals['lean'] as LeanState | undefined;
      try {
        if (state && !state.decided) {
          await run(deps.auth, req, res);
          await run(deps.writeLimit, req, res);
        }
      } catch (first) {
        next(first);
        return;
      }
      if (err instanceof AppError && err.code === 'unauthorized') {
        res.setHeader('WWW-Authenticate', 'Bearer realm="imagegen"');
      }
      next(err);
    };
    router.post('/v1/images/generations', admit, ...deps.json, submitHandler, classicOrder);
  } else {
    router.post('/v1/images/generations', deps.auth, deps.writeLimit, ...deps.json, submitHandler);
  }

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
