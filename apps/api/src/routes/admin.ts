import { createHash, timingSafeEqual } from 'node:crypto';

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';

import {
  cancelUnfinishedJobs,
  jobView,
  type GenerationQueue,
  type JobRepository,
  type Presigner,
} from '@imagegen/jobs';
import {
  CONCURRENCY_POLICIES,
  MAX_KEY_WEIGHT,
  type ApiKeyInfo,
  type ApiKeyRepository,
} from '@imagegen/access';

import {
  bearerToken,
  chargeAuthFailure,
  checkAuthBudget,
  type AuthFailureBudget,
} from '../http/auth-failures.js';
import { notFound, unauthorized } from '../services/errors.js';
import { listAllJobs } from '../services/list-all.js';
import { validationError } from '../services/validation.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

const CreateKey = z.strictObject({
  name: z
    .string({ error: 'name must be a string' })
    .trim()
    .min(1, { error: 'name must not be empty' })
    .max(100, { error: 'name must be at most 100 characters' }),
});
const Rotate = z.strictObject({
  grace_seconds: z
    .int({ error: 'grace_seconds must be a whole number of seconds between 0 and 2592000' })
    .min(0, { error: 'grace_seconds must be a whole number of seconds between 0 and 2592000' })
    .max(2_592_000, { error: 'grace_seconds must be a whole number of seconds between 0 and 2592000' })
    .default(86_400),
});
const WEIGHT_MESSAGE = `weight must be a whole number between 1 and ${MAX_KEY_WEIGHT}`;
const Scheduling = z
  .strictObject({
    weight: z
      .int({ error: WEIGHT_MESSAGE })
      .min(1, { error: WEIGHT_MESSAGE })
      .max(MAX_KEY_WEIGHT, { error: WEIGHT_MESSAGE })
      .optional(),
    concurrency_policy: z
      .enum(CONCURRENCY_POLICIES, { error: 'concurrency_policy must be "reject" or "queue"' })
      .optional(),
  })
  .refine((v) => v.weight !== undefined || v.concurrency_policy !== undefined, {
    error: 'send weight and/or concurrency_policy',
  });
const KEY_ID = /^[0-9a-f]{12}$/;

const keyView = (k: ApiKeyInfo) => ({
  id: k.id,
  name: k.name,
  created_at: new Date(k.createdAt).toISOString(),
  revoked_at: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
  weight: k.weight,
  concurrency_policy: k.concurrencyPolicy,
});

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  throw validationError(r.error);
}

const noSuchKey = () => notFound('no API key with this id');

/**
 * Key management and every key's jobs over HTTP, for operators: only mounted when ADMIN_API_KEY is set (off by default),
 * and only for requests bearing that key (compared as SHA-256 digests in constant time). Wrong keys
 * count against the client address's failure budget, shared with API keys.
 */
export function adminRouter(
  adminKey: string,
  apiKeys: ApiKeyRepository,
  jsonBody: express.RequestHandler[],
  authFailures: AuthFailureBudget,
  jobs: {
    jobs: Pick<JobRepository, 'listForKey' | 'queuePosition' | 'finish' | 'requestCancel'>;
    queue: Pick<GenerationQueue, 'remove'>;
    storage: Presigner;
  },
): Router {
  const expected = digest(adminKey);
  const router = express.Router();
  router.use(async (req: Request, _res: Response, next: NextFunction) => {
    await checkAuthBudget(authFailures, req);
    const presented = bearerToken(req.header('authorization')) ?? '';
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      await chargeAuthFailure(authFailures, req);
      throw unauthorized('admin endpoints need "Authorization: Bearer <ADMIN_API_KEY>"');
    }
    next();
  });
  const keyId = (req: Request) => {
    const id = String(req.params['id']);
    if (!KEY_ID.test(id)) throw noSuchKey();
    return id;
  };
  router.get('/keys', async (_req, res) => {
    const list = await apiKeys.list();
    res.json({ object: 'list', data: list.map(keyView) });
  });
  router.get('/jobs', async (req, res) => {
    const page = await listAllJobs({ jobs: jobs.jobs, apiKeys }, req.query);
    res.json({
      object: 'list',
      data: await Promise.all(
        page.records.map(async (r) => ({ ...(await jobView(r, jobs.jobs, jobs.storage)), key_id: r.keyId })),
      ),
      next_cursor: page.nextCursor,
    });
  });
  router.post('/keys', ...jsonBody, async (req, res) => {
    const { name } = parse(CreateKey, req.body);
    const created = await apiKeys.create(name);
    res
      .status(201)
      .json({ id: created.id, name, secret: created.secret, webhook_secret: created.webhookSecret });
  });
  // How the key's jobs are scheduled: its weight in the fair order, its policy at the concurrency limit.
  router.patch('/keys/:id', ...jsonBody, async (req, res) => {
    const id = keyId(req);
    const body = parse(Scheduling, req.body);
    const info = await apiKeys.setScheduling(id, {
      ...(body.weight === undefined ? {} : { weight: body.weight }),
      ...(body.concurrency_policy === undefined ? {} : { concurrencyPolicy: body.concurrency_policy }),
    });
    if (!info) throw noSuchKey();
    res.json(keyView(info));
  });
  router.delete('/keys/:id', async (req, res) => {
    const id = keyId(req);
    if (!(await apiKeys.revoke(id))) throw noSuchKey();
    // Its unfinished jobs end too; its open streams and waits end in every API process (issue 17,
    // finding 11), through the revocation that revoke() announced.
    const canceled = await cancelUnfinishedJobs(jobs, id);
    res.json({ id, revoked: true, canceled_jobs: canceled.queued + canceled.running });
  });
  router.post('/keys/:id/webhook-secret/rotate', ...jsonBody, async (req, res) => {
    const id = keyId(req);
    const { grace_seconds } = parse(Rotate, req.body);
    const r = await apiKeys.rotateWebhookSecret(id, grace_seconds);
    if (!r) throw noSuchKey();
    res.json({
      id,
      webhook_secret: r.webhookSecret,
      previous_valid_until:
        r.previousValidUntil === null ? null : new Date(r.previousValidUntil).toISOString(),
    });
  });
  return router;
}
