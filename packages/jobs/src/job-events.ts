import type { Cluster, Redis } from 'ioredis';

import type { JobEventType } from '@imagegen/contracts';

import { Keys } from './keys.js';
import { redisCall } from './redis.js';

/** One entry of a job's event stream, as stored (the SSE route turns it into the public event). */
export interface JobStreamEntry {
  id: string;
  type: JobEventType;
  fields: Record<string, string>;
}

type Listener = (eventId: string) => void;

/** Reading a job's events and hearing of new ones. */
export interface JobEvents {
  /** Events of a job after `afterId` ('0' for all), oldest first. */
  read(jobId: string, afterId?: string): Promise<JobStreamEntry[]>;
  /** Calls `listener` with each new event id of the job until the returned function is called. */
  listen(jobId: string, listener: Listener): () => void;
}

const EVENT_TYPES = new Set<string>(['queued', 'started', 'progress', 'completed']);

/**
 * Job events in Redis: each job's stream (written by the job commands) and one pub/sub subscription per
 * process, fanned out to its waits and event streams. A notification carries only the event id; readers
 * fetch the event from the stream, so a missed notification only delays a reader until its next poll.
 */
export class RedisJobEvents implements JobEvents {
  private readonly keys: Keys;
  private readonly listeners = new Map<string, Set<Listener>>();

  private subscriber: Redis | Cluster | null = null;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /**
   * Subscribes `subscriber` (a connection used for nothing else, owned by this object from now on) to
   * the events channel; `listen` hears events only after this.
   */
  static async start(
    redis: Redis | Cluster,
    subscriber: Redis | Cluster,
    prefix: string,
  ): Promise<RedisJobEvents> {
    const events = new RedisJobEvents(redis, prefix);
    events.subscriber = subscriber;
    subscriber.on('message', (_channel: string, message: string) => {
      const space = message.indexOf(' ');
      const jobId = message.slice(0, space);
      for (const l of events.listeners.get(jobId) ?? []) l(message.slice(space + 1));
    });
    await subscriber.subscribe(events.keys.eventsChannel());
    return events;
  }

  async read(jobId: string, afterId = '0'): Promise<JobStreamEntry[]> {
    const start = afterId === '0' ? '-' : `(${afterId}`;
    const rows = await redisCall(() => this.redis.xrange(this.keys.events(jobId), start, '+'));
    const entries: JobStreamEntry[] = [];
    for (const [id, flat] of rows) {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      const type = fields['type'] ?? '';
      if (EVENT_TYPES.has(type)) entries.push({ id, type: type as JobEventType, fields });
    }
    return entries;
  }

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

  /** Ends the subscription (the subscriber connection is this object's). Safe to call twice. */
  close(): void {
    this.listeners.clear();
    this.subscriber?.disconnect();
  }
}
