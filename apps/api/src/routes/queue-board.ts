import { createHash, timingSafeEqual } from 'node:crypto';

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';

import type { InspectedQueue } from '@imagegen/jobs';

import { chargeAuthFailure, checkAuthBudget, type AuthFailureBudget } from '../http/auth-failures.js';
import { forbidden, unauthorized } from '../services/errors.js';

/** Where the queue dashboard is mounted. */
export const QUEUE_BOARD_PATH = '/admin/queues';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The admin key a request presents: `Authorization: Bearer <key>` (scripts), or HTTP Basic with any
 * user name and the key as password (RFC 7617) — what a browser can send on its own: it asks once and
 * repeats the credentials on every request under the same path, the dashboard's API calls included.
 */
function presentedKey(header: string | undefined): string | undefined {
  const m = /^(Bearer|Basic) +(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  if (m[1]!.toLowerCase() === 'bearer') return m[2];
  const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A browser resends Basic credentials to any request for this origin, also one a page on another site
 * makes it send (CSRF). Requests that could change something must come from the dashboard itself:
 * refused when `Sec-Fetch-Site` says another site made them, or `Origin` names another host.
 */
function sameOrigin(req: Request): boolean {
  if (SAFE_METHODS.has(req.method)) return true;
  const site = req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.header('origin');
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.header('host');
  } catch {
    return false;
  }
}

/**
 * bull-board, BullMQ's own dashboard, over the service's queues, for operators: mounted only when
 * ADMIN_API_KEY is set, and only for requests bearing it (Bearer, or Basic with the key as password),
 * compared as SHA-256 digests in constant time; wrong keys spend the address's failure budget. The
 * queues are shown read-only: retrying, removing or promoting a BullMQ job behind the job records'
 * back would make the two disagree (a job is canceled through the API).
 */
export function queueBoard(options: {
  adminKey: string;
  queues: readonly InspectedQueue[];
  authFailures: AuthFailureBudget;
}): Router {
  const expected = digest(options.adminKey);
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: options.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'imagegen' } },
  });
  const router = express.Router();
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    await checkAuthBudget(options.authFailures, req);
    const presented = presentedKey(req.header('authorization'));
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      await chargeAuthFailure(options.authFailures, req);
      res.setHeader('WWW-Authenticate', 'Basic realm="imagegen admin", charset="UTF-8"');
      throw unauthorized(
        'the queue dashboard needs the admin key: HTTP Basic with any user name and ADMIN_API_KEY as password, or "Authorization: Bearer <ADMIN_API_KEY>"',
      );
    }
    if (!sameOrigin(req)) throw forbidden('this request was made by another site; use the dashboard itself');
    next();
  });
  router.use(serverAdapter.getRouter() as express.Router);
  return router;
}
