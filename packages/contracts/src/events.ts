import { z } from 'zod';

import { JOB_STAGES, Job, WEBHOOK_EVENTS } from './api.js';

/**
 * What each server-sent event of `GET /v1/images/generations/{id}/events` carries in `data`, by event
 * name. The `completed` event carries the whole job object, whatever the outcome.
 */
export const JobEventData = {
  queued: z.object({ queue_position: z.int().nullable() }),
  started: z.object({ attempt: z.int() }),
  progress: z.object({
    stage: z.enum(JOB_STAGES),
    step: z.int().nullable(),
    total: z.int().nullable(),
    progress: z.number(),
    /**
     * Only on streams opened with `?previews=1`: a small JPEG of the image being denoised (a
     * `data:image/jpeg;base64,…` URL, at most PREVIEW_MAX_SIDE px on its long side). Such an event has no
     * SSE `id` (previews are never stored, so there is nothing to resume from).
     */
    preview: z
      .string()
      .regex(/^data:image\/jpeg;base64,[A-Za-z0-9+/]+=*$/)
      .optional(),
  }),
  completed: Job,
} as const;

export type JobEventType = (typeof WEBHOOK_EVENTS)[number];
export type JobEvent = {
  [K in JobEventType]: { id: string; type: K; data: z.infer<(typeof JobEventData)[K]> };
}[JobEventType];

/** The long side of a live preview, in pixels, at most. */
export const PREVIEW_MAX_SIDE = 256;

/**
 * One live preview as a worker publishes it on the job's preview channel (`Keys.previews`), for the event
 * streams that asked for previews. Never stored.
 */
export const PreviewMessage = z.object({
  step: z.int().min(1),
  total: z.int().min(1),
  /** The job's progress at that step (0..1), as its stored progress events count it. */
  progress: z.number().min(0).max(1),
  width: z.int().min(1).max(PREVIEW_MAX_SIDE),
  height: z.int().min(1).max(PREVIEW_MAX_SIDE),
  /** The JPEG, base64. */
  jpeg: z.string().min(1),
});
export type PreviewMessage = z.infer<typeof PreviewMessage>;

/**
 * `?previews=` of the event stream: `1`/`true` asks for previews, `0`/`false` (or leaving it out) does not.
 */
export const PreviewsFlag = z
  .enum(['1', 'true', '0', 'false'], {
    error: 'previews must be 1 or true (send previews with progress events), or 0 or false',
  })
  .optional()
  .transform((v) => v === '1' || v === 'true');

/**
 * A webhook delivery intent in the outbox stream. Written by the Lua include `lua/includes/outbox.lua`
 * (packages/jobs) with exactly these field names, read by the dispatcher through this schema.
 */
export const OutboxEntry = z.object({
  job: z.string().min(1),
  type: z.enum(WEBHOOK_EVENTS),
  /** The job event's stream id; its time part is the event's timestamp. */
  event: z.string().regex(/^\d+-\d+$/),
});
export type OutboxEntry = z.infer<typeof OutboxEntry>;
