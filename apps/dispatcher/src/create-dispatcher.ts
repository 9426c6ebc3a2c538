import type { ApiKeyRepository } from '@imagegen/access';
import { JOB_CATALOG } from '@imagegen/contracts';
import type {
  GenerationQueue,
  JobHandlers,
  JobRepository,
  OutboxReader,
  Presigner,
  WebhookQueue,
} from '@imagegen/jobs';
import type { Logger, Metrics } from '@imagegen/observability';

import type { DeliveryGate } from './delivery-gate.js';
import { Janitor } from './janitor.js';
import { OutboxPump } from './outbox-pump.js';
import { deliverWebhook, type DeliveryDeps } from './webhook-delivery.js';

export interface DispatcherDeps {
  jobs: JobRepository;
  reader: Pick<OutboxReader, 'claimAbandoned' | 'readNew' | 'ack'>;
  generations: Pick<GenerationQueue, 'enqueue' | 'remove' | 'state'>;
  deliveries: Pick<WebhookQueue, 'add'>;
  apiKeys: Pick<ApiKeyRepository, 'webhookSecrets'>;
  storage: Presigner & { sweep(): Promise<number> };
  /** One signed POST, with the SSRF policy, allow-list and timeout applied. */
  deliver: DeliveryDeps['deliver'];
  metrics: Metrics;
  logger: Logger;
  /** Delays before each retry of a terminal event (WEBHOOK_RETRY_SCHEDULE); its length + 1 attempts. */
  retrySchedule: readonly number[];
  /** Per-target and per-key concurrency and circuit breakers for deliveries; none: no limits. */
  gate?: DeliveryGate;
  /** ENQUEUE_GRACE_MS. */
  intentGraceMs: number;
}

/** The dispatcher without its transport: the outbox pump, the janitor and the delivery handler. */
export interface Dispatcher {
  pump: OutboxPump;
  janitor: Janitor;
  handlers: JobHandlers<'deliverWebhook'>;
}

/** Builds the dispatcher from its adapters (tests pass fakes; `startDispatcher` passes Redis and S3). */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  return {
    pump: new OutboxPump({
      ...deps,
      queue: deps.deliveries,
      terminalAttempts: deps.retrySchedule.length + 1,
      intermediateAttempts: JOB_CATALOG.deliverWebhook.attempts,
    }),
    janitor: new Janitor({ ...deps, queue: deps.generations }),
    handlers: { deliverWebhook: (job) => deliverWebhook(deps, job) },
  };
}
