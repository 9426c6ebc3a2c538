import type { JobRepository } from '@imagegen/jobs';
import type { Logger } from '@imagegen/observability';

/**
 * Drops the enqueue intents of jobs the API has handed to BullMQ without a Redis round trip of their own:
 * the next submit's command takes them along (`take`), so a submit costs two round trips (its command
 * and its enqueue). When no submit comes within `idleMs`, one ZREM drops what is pending. An intent not
 * yet dropped is harmless: the dispatcher only acts on intents older than its grace (ENQUEUE_GRACE_MS,
 * 5 s by default), and re-adding a job BullMQ holds is a no-op.
 */
export class IntentClearer {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly jobs: Pick<JobRepository, 'clearEnqueueIntent'>,
    private readonly logger: Logger,
    private readonly idleMs = 1000,
  ) {}

  /** Schedules the intent's removal. */
  clear(id: string): void {
    this.pending.push(id);
    this.timer ??= setTimeout(() => void this.flush(), this.idleMs).unref();
  }

  /** The pending ids, for a submit command to drop (they are no longer pending here). */
  take(): string[] {
    const ids = this.pending;
    this.pending = [];
    return ids;
  }

  /** Removes every pending intent now (when idle, and at shutdown). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ids = this.take();
    if (ids.length > 0) {
      this.flushing = this.flushing
        .then(() => this.jobs.clearEnqueueIntent(...ids))
        .catch((err: unknown) => {
          // The dispatcher re-adds them (a no-op in BullMQ) and drops them after its grace.
          this.logger.warn({ err, jobs: ids.length }, 'enqueue intents not cleared');
        });
    }
    return this.flushing;
  }
}
