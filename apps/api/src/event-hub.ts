import type { Redis } from '@imagegen/jobs';

type Listener = (eventId: string) => void;

/**
 * One Redis subscription per API process, fanned out to the waits and event streams of this process.
 * Job events carry their stream id; readers fetch the event itself from the job's stream, so a missed
 * notification only delays a reader until its next poll.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();

  private constructor(private readonly subscriber: Redis) {}

  static async start(subscriber: Redis, channel: string): Promise<EventHub> {
    const hub = new EventHub(subscriber);
    subscriber.on('message', (_channel: string, message: string) => {
      const space = message.indexOf(' ');
      const jobId = message.slice(0, space);
      for (const l of hub.listeners.get(jobId) ?? []) l(message.slice(space + 1));
    });
    await subscriber.subscribe(channel);
    return hub;
  }

  /** Calls `listener` with each new event id of the job until the returned function is called. */
  listen(jobId: string, listener: Listener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) {
      set = new Set();
      this.listeners.set(jobId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
