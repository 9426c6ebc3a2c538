import { createHash, timingSafeEqual } from 'node:crypto';

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';

import type { ApiKeyRepository } from '@imagegen/access';
import { jobView, type JobRepository, type Presigner } from '@imagegen/jobs';

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
const KEY_ID = /^[0-9a-f]{12}$/;

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
  jobs: { jobs: Pick<JobRepository, 'listForKey' | 'queuePosition'>; storage: Presigner },
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
    res.json({
      object: 'list',
      data: list.map((k) => ({
        id: k.id,
        name: k.name,
        created_at: new Date(k.createdAt).toISOString(),
        revoked_at: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
      })),
    });
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
  router.delete('/keys/:id', async (req, res) => {
    const id = keyId(req);
    if (!(await apiKeys.revoke(id))) throw noSuchKey();
    res.json({ id, revoked: true });
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
