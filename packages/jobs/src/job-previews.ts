import type { Cluster, Redis } from 'ioredis';

import { PreviewMessage } from '@imagegen/contracts';

import { Keys } from './keys.js';
import { redisCall } from './redis.js';

type Listener = (preview: PreviewMessage) => void;

/**
 * Live previews of running jobs, which are never stored: a worker PUBLISHes each one on the job's own
 * channel (`Keys.previews`), and only while some event stream wants them, which that stream says by
 * keeping a short-lived key (`Keys.previewWatch`) alive and, when it opens, by a message on
 * `Keys.previewWatchChannel`. A worker checks the key before a job and then at most about once a second
 * (to see the interest end), so nobody watching costs it nothing; a preview nobody is subscribed to is
 * simply dropped.
 */
export interface JobPreviews {
  /**
   * The API side: says for `ttlMs` that a stream wants this job's previews; call again before it lapses.
   * `announce` (a stream's first call) also tells the workers at once (`Keys.previewWatchChannel`), so the
   * one running the job starts making previews at its next step rather than at its next look at the key.
   */
  watch(jobId: string, ttlMs: number, announce?: boolean): Promise<void>;
  /**
   * The API side: calls `listener` with each preview published for the job from now on (once the
   * returned promise has resolved: subscribed) until the returned function is called.
   */
  listen(jobId: string, listener: Listener): Promise<() => void>;
  /** The worker side: whether some stream wants this job's previews now. */
  wanted(jobId: string): Promise<boolean>;
  /** The worker side: hands a preview to whoever listens now (no one: it is dropped). */
  publish(jobId: string, preview: PreviewMessage): Promise<void>;
}

/** Job previews over Redis pub/sub and one expiring key per watched job. */
export class RedisJobPreviews implements JobPreviews {
  private readonly keys: Keys;
  private readonly channels = new Map<string, Set<Listener>>();
  private onMessage: ((channel: string, message: string) => void) | null = null;

  /**
   * `subscriber` is a connection used for nothing else, owned by this object (`close()` ends it); a worker,
   * which only publishes, passes none.
   */
  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
    private readonly subscriber: Redis | Cluster | null = null,
  ) {
    this.keys = new Keys(prefix);
  }

  async watch(jobId: string, ttlMs: number, announce = false): Promise<void> {
    await redisCall(() => this.redis.set(this.keys.previewWatch(jobId), '1', 'PX', Math.max(1, ttlMs)));
    if (announce) await redisCall(() => this.redis.publish(this.keys.previewWatchChannel(), jobId));
  }

  async wanted(jobId: string): Promise<boolean> {
    return (await redisCall(() => this.redis.exists(this.keys.previewWatch(jobId)))) === 1;
  }

  async publish(jobId: string, preview: PreviewMessage): Promise<void> {
    await redisCall(() => this.redis.publish(this.keys.previews(jobId), JSON.stringify(preview)));
  }

  async listen(jobId: string, listener: Listener): Promise<() => void> {
    const sub = this.subscriber;
    if (!sub) throw new Error('RedisJobPreviews.listen needs a subscriber connection');
    if (!this.onMessage) {
      this.onMessage = (channel, message) => {
        const set = this.channels.get(channel);
        if (!set) return;
        let parsed: PreviewMessage;
        try {
          const result = PreviewMessage.safeParse(JSON.parse(message));
          if (!result.success) return;
          parsed = result.data;
        } catch {
          return;
        }
        for (const l of set) l(parsed);
      };
      sub.on('message', this.onMessage);
    }
    const channel = this.keys.previews(jobId);
    let set = this.channels.get(channel);
    const first = !set;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(listener);
    const stop = () => {
      set.delete(listener);
      if (set.size === 0 && this.channels.get(channel) === set) {
        this.channels.delete(channel);
        void sub.unsubscribe(channel).catch(() => undefined);
      }
    };
    // Commands on one connection run in order: a SUBSCRIBE sent after an UNSUBSCRIBE of the same channel
    // leaves it subscribed.
    if (first) {
      try {
        await redisCall(() => sub.subscribe(channel));
      } catch (e) {
        stop();
        throw e;
      }
    }
    return stop;
  }

  /** Ends the subscriber connection, if any. Safe to call twice. */
  close(): void {
    this.channels.clear();
    this.subscriber?.disconnect();
  }
}
