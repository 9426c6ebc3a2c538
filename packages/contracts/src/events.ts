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
  }),
  completed: Job,
} as const;

export type JobEventType = (typeof WEBHOOK_EVENTS)[number];
export type JobEvent = {
  [K in JobEventType]: { id: string; type: K; data: z.infer<(typeof JobEventData)[K]> };
}[JobEventType];

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
