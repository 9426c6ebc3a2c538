import type { Job } from '@imagegen/contracts';
import {
  jobView,
  type JobRepository,
  type OutboxItem,
  type OutboxReader,
  type Presigner,
  type WebhookQueue,
} from '@imagegen/jobs';
import type { Logger } from '@imagegen/observability';

export interface OutboxPumpDeps {
  reader: Pick<OutboxReader, 'claimAbandoned' | 'readNew' | 'ack'>;
  jobs: Pick<JobRepository, 'get' | 'queuePosition'>;
  queue: Pick<WebhookQueue, 'add'>;
  storage: Presigner;
  logger: Logger;
  /** Attempts of a terminal event (the retry schedule's length + 1) and of the others. */
  terminalAttempts: number;
  intermediateAttempts: number;
}

/**
 * Moves each webhook delivery intent that a job state change wrote to the outbox into the delivery queue
 * (the webhook-id is the BullMQ job id, so a re-read entry is a no-op), and only then acknowledges it: a
 * dispatcher that dies in between loses nothing, another one claims the entry back.
 */
export class OutboxPump {
  private closed = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly deps: OutboxPumpDeps) {}

  start(): void {
    this.loop = this.run();
  }

  /** Hands over a batch of entries: queue each delivery, then acknowledge it. */
  async handOver(items: OutboxItem[]): Promise<void> {
    const { jobs, queue, storage, reader } = this.deps;
    for (const { entryId, entry } of items) {
      const record = entry ? await jobs.get(entry.job) : null;
      if (entry && record?.webhook) {
        const terminal = entry.type === 'completed';
        const snapshot: Job | null = terminal ? await jobView(record, jobs, storage) : null;
        await queue.add(
          {
            jobId: entry.job,
            keyId: record.keyId,
            url: record.webhook.url,
            kind: entry.type,
            eventId: entry.event,
            snapshot,
            ...(record.webhook.format ? { format: record.webhook.format } : {}),
            ...(record.webhook.secret ? { bflSecret: record.webhook.secret } : {}),
          },
          terminal ? this.deps.terminalAttempts : this.deps.intermediateAttempts,
        );
      }
      await reader.ack(entryId);
    }
  }

  private async run(): Promise<void> {
    while (!this.isClosed()) {
      try {
        await this.handOver(await this.deps.reader.claimAbandoned());
        await this.handOver(await this.deps.reader.readNew(1000));
      } catch (err) {
        if (this.isClosed()) return;
        this.deps.logger.warn({ err }, 'webhook outbox read failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Read through a method: the flag changes while the loop awaits. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** Stops after the current batch (the blocking read's connection must be disconnected by the owner). */
  async close(): Promise<void> {
    this.closed = true;
    await this.loop;
  }
}
