import type { Job } from '@imagegen/contracts';

import type { WebhookEventKind } from './job-store.js';

export const WEBHOOK_QUEUE = 'webhooks';

/** One event to deliver to one job's webhook; the BullMQ job id is the `webhook-id`. */
export interface WebhookDelivery {
  jobId: string;
  keyId: string;
  url: string;
  kind: WebhookEventKind;
  /** The job event's stream id; its time part is the event's timestamp. */
  eventId: string;
  /** The job object when the terminal event happened, sent if the record is purged before delivery. */
  snapshot: Job | null;
}

/** `msg_<job id>_<event id>`: unique per event, the same on every retry, no "." (Standard Webhooks). */
export function webhookMessageId(jobId: string, eventId: string): string {
  return `msg_${jobId}_${eventId.replace('-', '_')}`;
}
