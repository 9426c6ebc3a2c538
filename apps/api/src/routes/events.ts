import { Router, type RequestHandler } from 'express';

import { PreviewsFlag } from '@imagegen/contracts';

import { ctx } from '../http/middleware.js';
import { SseStream } from '../http/sse.js';
import { invalidRequest } from '../services/errors.js';
import { openJobEventStream, type JobEventStreamDeps } from '../services/job-event-stream.js';

export interface EventRoutesDeps extends JobEventStreamDeps {
  shutdown?: AbortSignal | undefined;
  auth: RequestHandler;
  readLimit: RequestHandler;
}

/**
 * `GET /v1/images/generations/{id}/events`: the job's events as SSE, from `Last-Event-ID` on; ends after
 * the terminal `completed` event, or when the process shuts down (the client reconnects and resumes).
 * `?previews=1` adds live previews: `progress` events with `preview` and no `id`.
 */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const router = Router();
  router.get('/v1/images/generations/:id/events', deps.auth, deps.readLimit, async (req, res) => {
    const flag = PreviewsFlag.safeParse(req.query['previews']);
    if (!flag.success) throw invalidRequest(flag.error.issues[0]!.message, 'previews');
    // Ends the iteration when the client goes away or the process shuts down; in the second case the
    // stream ends after what was already sent, and the client reconnects with Last-Event-ID.
    const stop = new AbortController();
    const onShutdown = () => stop.abort();
    const events = await openJobEventStream(deps, ctx(res).keyId!, String(req.params['id']), {
      after: req.header('last-event-id'),
      previews: flag.data,
      signal: stop.signal,
    });
    const stream = new SseStream(res, { retryMs: 2000, keepaliveMs: 15_000 });
    stream.onClose(onShutdown);
    if (deps.shutdown?.aborted) stop.abort();
    else deps.shutdown?.addEventListener('abort', onShutdown);
    try {
      for await (const ev of events) stream.send(ev.id, ev.type, ev.data);
    } catch {
      // A Redis failure mid-stream ends the stream; the client reconnects and resumes.
    } finally {
      deps.shutdown?.removeEventListener('abort', onShutdown);
      stream.end();
    }
  });
  return router;
}
