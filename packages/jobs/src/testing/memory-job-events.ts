import type { JobEvents, JobStreamEntry } from '../job-events.js';

/** Job event streams and their listeners in memory: the events half of the in-memory fake. */
export class MemoryJobEvents implements JobEvents {
  readonly streams = new Map<string, JobStreamEntry[]>();
  private readonly listeners = new Map<string, Set<(eventId: string) => void>>();
  private lastEventMs = 0;
  private eventSeq = 0;

  async read(jobId: string, afterId = '0'): Promise<JobStreamEntry[]> {
    await Promise.resolve();
    const all = this.streams.get(jobId) ?? [];
    // As XRANGE with an exclusive start: the entries whose id sorts after `afterId`.
    const key = (id: string) => id.split('-').map(Number) as [number, number];
    const [ms, n] = key(afterId === '0' ? '0-0' : afterId);
    return all.filter((e) => {
      const [ems, en] = key(e.id);
      return ems > ms || (ems === ms && en > n);
    });
  }

  listen(jobId: string, listener: (eventId: string) => void): () => void {
    const set = this.listeners.get(jobId) ?? new Set();
    set.add(listener);
    this.listeners.set(jobId, set);
    return () => set.delete(listener);
  }

  /** Stream ids like Redis's: `<ms>-<n>`, increasing. */
  protected append(jobId: string, fields: Record<string, string>): void {
    const ms = Math.max(Date.now(), this.lastEventMs);
    this.eventSeq = ms === this.lastEventMs ? this.eventSeq + 1 : 0;
    this.lastEventMs = ms;
    const id = `${ms}-${this.eventSeq}`;
    const list = this.streams.get(jobId) ?? [];
    list.push({ id, type: fields['type'] as JobStreamEntry['type'], fields });
    this.streams.set(jobId, list);
    for (const l of this.listeners.get(jobId) ?? []) l(id);
  }
}
