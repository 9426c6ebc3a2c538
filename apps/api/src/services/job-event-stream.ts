import {
  TERMINAL_STATUSES,
  type JobEvent,
  type JobEventType,
  type JobRecord,
  type PreviewMessage,
} from '@imagegen/contracts';
import {
  jobView,
  type JobEvents,
  type JobPreviews,
  type JobRepository,
  type JobStreamEntry,
  type Presigner,
} from '@imagegen/jobs';

import type { Held, OpenRequests } from './open-requests.js';
import { readOwnedJob } from './read.js';

/**
 * One event of a job as its public event stream carries it: `data` is contracts' `JobEventData[type]`.
 * `id` is the stored event's id (resume after it with `after`), or null for a live preview (a `progress`
 * event with `preview`), which is never stored.
 */
export type StreamedJobEvent = {
  [K in JobEventType]: Omit<Extract<JobEvent, { type: K }>, 'id'>;
}[JobEventType] & {
  id: string | null;
};

export interface JobEventStreamDeps {
  jobs: Pick<JobRepository, 'get' | 'queuePosition'>;
  events: JobEvents;
  /** Where live previews come from; without it a stream carries none. */
  previews?: JobPreviews | undefined;
  storage: Presigner;
  /** How often the stream re-reads its job's events in case a notification was missed. Default 5000 ms. */
  pollMs?: number | undefined;
  /** Counts the streams each key holds (a cap, then 429) and ends them when the key is revoked. */
  openRequests?: OpenRequests | undefined;
  /** Record reads shared by the streams of one job (see shared-reads.ts); default `jobs`. */
  jobReads?: Pick<JobRepository, 'get' | 'queuePosition'> | undefined;
}

export interface JobEventStreamOptions {
  /** The stored event id to resume after (an SSE Last-Event-ID); '0' or absent: from the first event. */
  after?: string | undefined;
  /** Also yield live previews while the job runs. */
  previews?: boolean | undefined;
  /** Ends the iteration (after the event being handed out, if any): client gone, process shutting down. */
  signal?: AbortSignal | undefined;
}

/** How long one announcement of interest in previews lasts; a stream renews it every third of that. */
export const PREVIEW_WATCH_TTL_MS = 6000;

const num = (v: string | undefined) => (v ? Number(v) : null);

/**
 * Opens the event stream of job `jobId` for the API key `keyId`: rejects with 404 `not_found` (before
 * anything else) when the key has no such job, else resolves with an async iterable of the job's public
 * events, oldest first, that ends after the terminal `completed` event (whose data is the job object) or
 * when `options.signal` aborts or the key is revoked. Iterate it: ending or breaking out of a `for await`
 * over it releases everything it holds, its place among the key's streams included (MAX_STREAMS_PER_KEY;
 * opening one more is 429 `rate_limited`).
 *
 * With `previews: true`, while the job is unfinished, the iterable also yields `progress` events with
 * `preview` (a `data:image/jpeg;base64,…` URL) and `id: null`, as the worker makes them: it makes them
 * only while some stream wants them, at most every PREVIEW_EVERY_STEPS steps and twice a second. Only the
 * newest preview waits for a slow consumer; older ones are dropped.
 *
 * ```ts
 * const events = await openJobEventStream(deps, keyId, id, { previews: true, signal });
 * for await (const ev of events) {
 *   if (ev.type === 'progress' && ev.data.preview) send(ev.data.preview);
 *   if (ev.type === 'completed') send(ev.data); // the job; the loop ends after it
 * }
 * ```
 */
export async function openJobEventStream(
  deps: JobEventStreamDeps,
  keyId: string,
  jobId: string,
  options: JobEventStreamOptions = {},
): Promise<AsyncGenerator<StreamedJobEvent, void, undefined>> {
  const record = await readOwnedJob(deps.jobs, keyId, jobId);
  const held = deps.openRequests?.enter(keyId, 'stream');
  return jobEventStream(deps, record, options, held);
}

/** The public `data` of one stored event; the terminal one is the whole job. */
async function eventData(
  deps: JobEventStreamDeps,
  record: JobRecord,
  ev: JobStreamEntry,
): Promise<StreamedJobEvent> {
  switch (ev.type) {
    case 'queued': {
      const rank = await (deps.jobReads ?? deps.jobs).queuePosition(record.id);
      return { id: ev.id, type: 'queued', data: { queue_position: rank === null ? null : rank + 1 } };
    }
    case 'started':
      return { id: ev.id, type: 'started', data: { attempt: Number(ev.fields['attempt']) } };
    case 'progress':
      return {
        id: ev.id,
        type: 'progress',
        data: {
          stage: ev.fields['stage'] as Extract<JobEvent, { type: 'progress' }>['data']['stage'],
          step: num(ev.fields['step']),
          total: num(ev.fields['total']),
          progress: Number(ev.fields['progress']),
        },
      };
    case 'completed': {
      const latest = (await (deps.jobReads ?? deps.jobs).get(record.id)) ?? record;
      return { id: ev.id, type: 'completed', data: await jobView(latest, deps.jobs, deps.storage) };
    }
  }
}

function previewEvent(p: PreviewMessage): StreamedJobEvent {
  return {
    id: null,
    type: 'progress',
    data: {
      stage: 'generating',
      step: p.step,
      total: p.total,
      progress: p.progress,
      preview: `data:image/jpeg;base64,${p.jpeg}`,
    },
  };
}

async function* jobEventStream(
  deps: JobEventStreamDeps,
  record: JobRecord,
  options: JobEventStreamOptions,
  held: Held | undefined,
): AsyncGenerator<StreamedJobEvent, void, undefined> {
  // Ends on the caller's signal or on the key's revocation, whichever comes first.
  const signal = held
    ? AbortSignal.any([held.signal, ...(options.signal ? [options.signal] : [])])
    : options.signal;
  let last = options.after && /^\d+-\d+$/.test(options.after) ? options.after : '0';
  let dirty = true;
  let latestPreview: PreviewMessage | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    dirty = true;
    wake?.();
    wake = null;
  };
  const onPreview = (p: PreviewMessage) => {
    latestPreview = p;
    wake?.();
    wake = null;
  };
  // Set by the callbacks above between awaits (functions, so control flow analysis does not assume them).
  const isDirty = () => dirty;
  const takePreview = () => {
    const p = latestPreview;
    latestPreview = null;
    return p;
  };
  const stopEvents = deps.events.listen(record.id, notify);
  const poll = setInterval(notify, deps.pollMs ?? 5000);
  signal?.addEventListener('abort', notify);
  let stopPreviews = () => {};
  let renew: NodeJS.Timeout | undefined;
  try {
    const previews = options.previews ? deps.previews : undefined;
    if (previews && !TERMINAL_STATUSES.includes(record.status)) {
      // Subscribed before saying so: a worker that hears of the interest publishes to a listening stream.
      stopPreviews = await previews.listen(record.id, onPreview);
      const watch = (announce: boolean) =>
        previews.watch(record.id, PREVIEW_WATCH_TTL_MS, announce).catch(() => undefined);
      await watch(true);
      renew = setInterval(() => void watch(false), PREVIEW_WATCH_TTL_MS / 3);
    }
    while (!signal?.aborted) {
      if (dirty) {
        dirty = false;
        for (const ev of await deps.events.read(record.id, last)) {
          if (signal?.aborted) return; // a revoked key gets nothing more, its image URL least of all
          last = ev.id;
          yield await eventData(deps, record, ev);
          if (ev.type === 'completed' || signal?.aborted) return;
        }
      }
      const preview = takePreview();
      if (preview) {
        yield previewEvent(preview);
        continue;
      }
      if (!isDirty()) await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    held?.release();
    stopEvents();
    stopPreviews();
    clearInterval(poll);
    clearInterval(renew);
    signal?.removeEventListener('abort', notify);
  }
}
