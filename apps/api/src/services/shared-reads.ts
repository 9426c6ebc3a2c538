import type { JobRecord } from '@imagegen/contracts';
import type { JobEvents, JobRepository, JobStreamEntry } from '@imagegen/jobs';

type Listener = (eventId: string) => void;

interface WatchedJob {
  listeners: Set<Listener>;
  stopInner: () => void;
  /** The job's events read so far, oldest first. */
  entries: JobStreamEntry[];
  /** Bumped by every notification (and every poll): reads must reflect at least this version. */
  version: number;
  /** The version the entries reflect. */
  readVersion: number;
  inflight: { version: number; done: Promise<void> } | null;
}

/** `a` after `b`, for stream ids `ms-seq`. */
function after(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}

/**
 * One job's events read once per notification for every local listener (issue 17, finding 6: each of
 * 1,000 streams watching one job re-read it on every event, 151 → ~14,000 Redis commands). While a job
 * has listeners in this process its events are kept here and read from Redis incrementally, once per
 * notification whoever asks; every `pollMs` the watched jobs are read again once, in case a notification
 * was lost. Jobs nobody here listens to are read straight through. `onNotify` hears of each notification
 * before the listeners (the coalesced record reads below forget their in-flight read then).
 */
export class SharedJobEvents implements JobEvents {
  private readonly watched = new Map<string, WatchedJob>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly inner: JobEvents,
    private readonly onNotify: (jobId: string) => void = () => undefined,
    pollMs = 5000,
  ) {
    this.timer = setInterval(() => {
      for (const w of this.watched.values()) w.version++;
    }, pollMs);
    this.timer.unref();
  }

  listen(jobId: string, listener: Listener): () => void {
    let w = this.watched.get(jobId);
    if (!w) {
      const job: WatchedJob = {
        listeners: new Set(),
        stopInner: () => undefined,
        entries: [],
        version: 1,
        readVersion: 0,
        inflight: null,
      };
      job.stopInner = this.inner.listen(jobId, (eventId) => {
        job.version++;
        this.onNotify(jobId);
        for (const l of [...job.listeners]) l(eventId);
      });
      this.watched.set(jobId, job);
      w = job;
    }
    const job = w;
    job.listeners.add(listener);
    return () => {
      job.listeners.delete(listener);
      if (job.listeners.size === 0 && this.watched.get(jobId) === job) {
        this.watched.delete(jobId);
        job.stopInner();
      }
    };
  }

  async read(jobId: string, afterId = '0'): Promise<JobStreamEntry[]> {
    const w = this.watched.get(jobId);
    if (!w) return this.inner.read(jobId, afterId);
    const want = w.version;
    while (w.readVersion < want) {
      if (!w.inflight) {
        const version = w.version;
        const last = w.entries.at(-1)?.id ?? '0';
        const done = this.inner.read(jobId, last).then(
          (fresh) => {
            for (const e of fresh) if (after(e.id, w.entries.at(-1)?.id ?? '0')) w.entries.push(e);
            w.readVersion = Math.max(w.readVersion, version);
            w.inflight = null;
          },
          (err: unknown) => {
            w.inflight = null;
            throw err;
          },
        );
        w.inflight = { version, done };
      }
      await w.inflight.done;
    }
    return afterId === '0' ? [...w.entries] : w.entries.filter((e) => after(e.id, afterId));
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/**
 * `jobs` with `get` and `queuePosition` coalesced per job: concurrent calls share one Redis read, and a
 * call made after a notification for the job (`forget`) never joins a read started before it. Waits woken
 * together by one event cost one read, not one each.
 */
export function coalescedJobReads<T extends Pick<JobRepository, 'get' | 'queuePosition'>>(
  jobs: T,
): { jobs: T; forget: (jobId: string) => void } {
  const gets = new Map<string, Promise<JobRecord | null>>();
  const positions = new Map<string, Promise<number | null>>();
  const share = <V>(map: Map<string, Promise<V>>, id: string, read: () => Promise<V>): Promise<V> => {
    const pending = map.get(id);
    if (pending) return pending;
    const p = read().finally(() => {
      if (map.get(id) === p) map.delete(id);
    });
    map.set(id, p);
    return p;
  };
  const get = (id: string) => share(gets, id, () => jobs.get(id));
  const queuePosition = (id: string) => share(positions, id, () => jobs.queuePosition(id));
  const proxy = new Proxy(jobs, {
    get(target, prop) {
      if (prop === 'get') return get;
      if (prop === 'queuePosition') return queuePosition;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    jobs: proxy,
    forget: (jobId) => {
      gets.delete(jobId);
      positions.delete(jobId);
    },
  };
}
