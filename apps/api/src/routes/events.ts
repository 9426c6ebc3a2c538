import { Router, type RequestHandler } from 'express';

import type { JobRecord } from '@imagegen/contracts';
import {
  jobView,
  type JobEvents,
  type JobRepository,
  type JobStreamEntry,
  type Presigner,
} from '@imagegen/jobs';

import { ctx } from '../http/middleware.js';
import { SseStream } from '../http/sse.js';
import { readOwnedJob } from '../services/read.js';

export interface EventRoutesDeps {
  jobs: Pick<JobRepository, 'get' | 'queuePosition'>;
  events: JobEvents;
  storage: Presigner;
  shutdown?: AbortSignal | undefined;
  auth: RequestHandler;
  readLimit: RequestHandler;
  /** How often a stream re-reads its job's events in case a notification was missed. Default 5000 ms. */
  pollMs?: number;
}

const num = (v: string | undefined) => (v ? Number(v) : null);

/** The public `data` of one stored event (its shapes are contracts' JobEventData, which /openapi.json documents); the terminal one is the whole job. */
async function eventData(deps: EventRoutesDeps, record: JobRecord, ev: JobStreamEntry): Promise<unknown> {
  switch (ev.type) {
    case 'queued': {
      const rank = await deps.jobs.queuePosition(record.id);
      return { queue_position: rank === null ? null : rank + 1 };
    }
    case 'started':
      return { attempt: Number(ev.fields['attempt']) };
    case 'progress':
      return {
        stage: ev.fields['stage'],
        step: num(ev.fields['step']),
        total: num(ev.fields['total']),
        progress: Number(ev.fields['progress']),
      };
    case 'completed': {
      const latest = await deps.jobs.get(record.id);
      return latest ? jobView(latest, deps.jobs, deps.storage) : null;
    }
  }
}

/**
 * `GET /v1/images/generations/{id}/events`: the job's events as SSE, from `Last-Event-ID` on; ends after
 * the terminal `completed` event, or when the process shuts down (the client reconnects and resumes).
 */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const router = Router();
  router.get('/v1/images/generations/:id/events', deps.auth, deps.readLimit, async (req, res) => {
    const record = await readOwnedJob(deps.jobs, ctx(res).keyId!, String(req.params['id']));
    const stream = new SseStream(res, { retryMs: 2000, keepaliveMs: 15_000 });
    let last = req.header('last-event-id') ?? '0';
    if (!/^\d+-\d+$/.test(last)) last = '0';
    let done = false;
    let pending = Promise.resolve();
    const pump = () => {
      pending = pending
        .then(async () => {
          if (done) return;
          for (const ev of await deps.events.read(record.id, last)) {
            last = ev.id;
            stream.send(ev.id, ev.type, await eventData(deps, record, ev));
            if (ev.type === 'completed') {
              finish();
              return;
            }
          }
        })
        .catch(() => finish());
    };
    const stop = deps.events.listen(record.id, pump);
    const poll = setInterval(pump, deps.pollMs ?? 5000);
    const finish = () => {
      done = true;
      stop();
      clearInterval(poll);
      deps.shutdown?.removeEventListener('abort', endForShutdown);
      stream.end();
    };
    // Shutting down: end the stream after what was already sent; the client reconnects with Last-Event-ID.
    const endForShutdown = () => void pending.then(finish);
    if (deps.shutdown?.aborted) endForShutdown();
    else deps.shutdown?.addEventListener('abort', endForShutdown);
    stream.onClose(finish);
    pump();
    await pending;
  });
  return router;
}
