import {
  decodeJobRecord,
  encodeNewJob,
  encodeOutcome,
  ENGINE_CRASHES_FIELD,
  REVISED_PROMPT_FIELD,
  SHUTDOWN_ABANDONS_FIELD,
  type JobOutcomeFields,
  type JobRecord,
  type JobStage,
  type JobStatus,
  type NewJobRecord,
} from '@imagegen/contracts';

import { MemoryJobEvents } from './memory-job-events.js';
import { settleAttached, type AttachedHooks } from '../result-reuse.js';
import {
  EXPIRED_ERROR,
  KEY_JOBS_INDEX_MAX,
  PRIORITY_LIMIT,
  LIST_SCAN_MAX,
  type FinishOutcome,
  type JobPage,
  type ListOptions,
  type IdempotencyClaim,
  type JobRepository,
  type KeySchedulingSettings,
  type ReleasedJob,
  type StartOutcome,
  type SubmitOptions,
  type SubmitLimits,
  type SubmitOutcome,
  type TerminalStatus,
  type WebhookAttempt,
} from '../job-repository.js';

const ROUND = 5040;
const SEQ_SPAN = 2 ** 30;

/**
 * The job repository and its events in memory, for the fast test tier: the same transitions as the Lua
 * commands (held to the same contract tests), on the same record codec, with no Redis.
 */
export class MemoryJobRepository extends MemoryJobEvents implements JobRepository {
  readonly hashes = new Map<string, Record<string, string>>();
  /** Waiting job ids by their place in the fair order (round · 2^30 + seq, as the Redis waiting set). */
  readonly waiting = new Map<string, number>();
  /** Each key's held job ids (policy `queue`, beyond its concurrency limit) by seq. */
  readonly held = new Map<string, Map<string, number>>();
  /** Each key's scheduling settings (the admin's; default weight 1, policy reject). */
  readonly keySettings = new Map<string, Partial<KeySchedulingSettings>>();
  /** The fair order's finish tag per key (lua/includes/fair.lua). */
  private readonly tags = new Map<string, number>();
  readonly unfinished = new Map<string, Set<string>>();
  readonly idempotency = new Map<string, string>();
  readonly intents = new Map<string, number>();
  /** Processing job ids by start time. */
  readonly running = new Map<string, number>();
  /** Each key's job ids by seq (its index). */
  readonly keyJobs = new Map<string, Map<string, number>>();
  /** Job ids announced on the cancel channel, in order. */
  readonly cancelRequests: string[] = [];
  readonly webhookAttempts: { id: string; attempt: WebhookAttempt }[] = [];
  /** Result reuse: the job that last ran each key's digest (`<key id>:<digest>`). */
  readonly resultCache = new Map<string, { id: string; expiresAt: number }>();
  /** The jobs attached to each running job (result reuse). */
  readonly attached = new Map<string, string[]>();
  /** What a finish does with the jobs attached to the finished one (copy, enqueue). */
  attachedHooks: AttachedHooks = {};
  private seq = 0;

  async submit(
    job: NewJobRecord,
    limits: SubmitLimits,
    idem: IdempotencyClaim | null,
    options: SubmitOptions = {},
  ): Promise<SubmitOutcome> {
    await Promise.resolve();
    const idemKey = idem ? `${job.keyId}:${idem.keyDigest}` : null;
    if (idemKey) {
      const existing = this.idempotency.get(idemKey);
      if (existing) {
        const [bodyDigest = '', jobId = ''] = existing.split('|');
        return { kind: 'replayed', jobId, bodyDigest };
      }
    }
    const cache = options.cache ?? null;
    const cacheKey = cache ? `${job.keyId}:${cache.digest}` : '';
    let reuse: { kind: 'hit' | 'attach'; source: string } | null = null;
    const entry = this.resultCache.get(cacheKey);
    if (cache?.lookup && entry && entry.expiresAt > Date.now()) {
      const h = this.hashes.get(entry.id);
      if (h?.['key_id'] === job.keyId) {
        const life = Number(h['completed_at'] ?? 0) + cache.objectTtlMs - Date.now();
        if (h['status'] === 'succeeded' && life >= cache.minLifeMs) reuse = { kind: 'hit', source: entry.id };
        else if (h['status'] === 'queued' || h['status'] === 'processing')
          reuse = { kind: 'attach', source: entry.id };
      }
    }
    const settings = this.keySettings.get(job.keyId) ?? {};
    const slots = this.unfinished.get(job.keyId) ?? new Set<string>();
    const hold = reuse?.kind !== 'hit' && slots.size >= limits.concurrency;
    if (hold && settings.concurrencyPolicy !== 'queue')
      return { kind: 'concurrency', unfinished: slots.size };
    if (hold) reuse = null;
    const heldHere = this.held.get(job.keyId) ?? new Map<string, number>();
    const depth = this.waiting.size + (hold ? heldHere.size : 0);
    if (!reuse && limits.queueBound > 0 && depth >= limits.queueBound) return { kind: 'queue_full' };
    const seq = ++this.seq;
    const h: Record<string, string> = { ...encodeNewJob(job), seq: String(seq), status: 'queued' };
    this.hashes.set(job.id, h);
    let priority = 0;
    if (hold) {
      Object.assign(h, {
        held_limit: String(limits.concurrency),
        held_deadline_ms: String(job.deadlineAt - job.createdAt),
      });
      heldHere.set(job.id, seq);
      this.held.set(job.keyId, heldHere);
    } else if (reuse?.kind === 'attach') {
      Object.assign(h, {
        attached_to: reuse.source,
        held_deadline_ms: String(job.deadlineAt - job.createdAt),
      });
      slots.add(job.id);
      this.unfinished.set(job.keyId, slots);
      this.attached.set(reuse.source, [...(this.attached.get(reuse.source) ?? []), job.id]);
    } else {
      priority = this.enterWaiting(job.id, job.keyId, seq);
      h['priority'] = String(priority);
      slots.add(job.id);
      this.unfinished.set(job.keyId, slots);
      this.intents.set(job.id, Date.now());
    }
    const index = this.keyJobs.get(job.keyId) ?? new Map<string, number>();
    index.set(job.id, seq);
    this.keyJobs.set(job.keyId, index);
    for (const [id] of [...index.entries()].sort((a, b) => a[1] - b[1]).slice(0, -KEY_JOBS_INDEX_MAX))
      index.delete(id);
    if (idemKey && idem) this.idempotency.set(idemKey, `${idem.bodyDigest}|${job.id}`);
    if (cache && !reuse)
      this.resultCache.set(cacheKey, { id: job.id, expiresAt: Date.now() + cache.ttlSeconds * 1000 });
    this.append(job.id, { type: 'queued' });
    const record = decodeJobRecord({ ...h })!;
    if (hold) return { kind: 'held', seq, record };
    if (reuse?.kind === 'attach') return { kind: 'attached', seq, record, to: reuse.source };
    const position = (await this.queuePosition(job.id)) ?? 0;
    if (reuse?.kind === 'hit') {
      const source = decodeJobRecord({ ...this.hashes.get(reuse.source)! })!;
      return { kind: 'cached', seq, priority, position, record, source };
    }
    return { kind: 'created', seq, priority, position, record };
  }

  /**
   * Puts a job into the waiting set at its fair place (lua/includes/fair.lua), or with `atHead` at the head's
   * round without moving the key's tag; returns its priority.
   */
  private enterWaiting(id: string, keyId: string, seq: number, atHead = false): number {
    const head = Math.min(...this.waiting.values());
    if (atHead) {
      const round = Number.isFinite(head) ? Math.floor(head / SEQ_SPAN) : 1;
      this.waiting.set(id, round * SEQ_SPAN + (seq % SEQ_SPAN));
      return Math.min(round, PRIORITY_LIMIT);
    }
    let virtual = 0;
    if (Number.isFinite(head)) virtual = (Math.floor(head / SEQ_SPAN) - 1) * ROUND;
    else this.tags.clear();
    const weight = Math.max(1, Math.min(100, this.keySettings.get(keyId)?.weight ?? 1));
    const tag = Math.max(virtual, this.tags.get(keyId) ?? 0) + Math.floor(ROUND / weight);
    this.tags.set(keyId, tag);
    const round = Math.ceil(tag / ROUND);
    this.waiting.set(id, round * SEQ_SPAN + (seq % SEQ_SPAN));
    return Math.min(round, PRIORITY_LIMIT);
  }

  async get(id: string): Promise<JobRecord | null> {
    await Promise.resolve();
    const h = this.hashes.get(id);
    return h ? decodeJobRecord({ ...h }) : null;
  }

  async listForKey(keyId: string, options: ListOptions): Promise<JobPage> {
    await Promise.resolve();
    const index = this.keyJobs.get(keyId) ?? new Map<string, number>();
    const before = options.beforeSeq ?? Number.POSITIVE_INFINITY;
    const entries = [...index.entries()].filter(([, seq]) => seq < before).sort((a, b) => b[1] - a[1]);
    const records: JobRecord[] = [];
    let scanned = 0;
    for (const [id, seq] of entries) {
      scanned++;
      const h = this.hashes.get(id);
      const record = h ? decodeJobRecord({ ...h }) : null;
      if (!record) index.delete(id);
      else if (!options.statuses || options.statuses.includes(record.status)) records.push(record);
      if (records.length === options.limit || scanned >= LIST_SCAN_MAX) {
        return { records, nextBeforeSeq: seq };
      }
    }
    return { records, nextBeforeSeq: null };
  }

  /** Forgets a record as Redis does when its retention ends (tests). */
  purge(id: string): void {
    this.hashes.delete(id);
    this.streams.delete(id);
  }

  async queuePosition(id: string): Promise<number | null> {
    await Promise.resolve();
    const seq = this.waiting.get(id);
    if (seq === undefined) return null;
    return [...this.waiting.values()].filter((s) => s < seq).length;
  }

  async waitingCount(): Promise<number> {
    await Promise.resolve();
    return this.waiting.size;
  }

  async oldestQueuedAt(): Promise<number | null> {
    await Promise.resolve();
    const [first] = [...this.waiting.entries()].sort((a, b) => a[1] - b[1]);
    const created = first && this.hashes.get(first[0])?.['created_at'];
    return created ? Number(created) : null;
  }

  async start(id: string, attempt: number, worker: string, now = Date.now()): Promise<StartOutcome> {
    await Promise.resolve();
    const h = this.hashes.get(id);
    if (!h?.['status']) return { kind: 'missing' };
    const status = h['status'] as JobStatus;
    if (status !== 'queued' && status !== 'processing') return { kind: 'settled', status };
    if (h['cancel_requested'] === '1') return { kind: 'cancel_requested' };
    h['started_at'] ??= String(now);
    Object.assign(h, {
      status: 'processing',
      attempt: String(attempt),
      progress: '0',
      stage: 'analyzing',
      worker,
    });
    this.waiting.delete(id);
    this.intents.delete(id);
    this.running.set(id, Date.now());
    this.append(id, { type: 'started', attempt: String(attempt) });
    return { kind: 'started' };
  }

  async progress(id: string, stage: JobStage, step: number | null, total: number | null, progress: number) {
    await Promise.resolve();
    const h = this.hashes.get(id);
    if (h?.['status'] !== 'processing') return;
    Object.assign(h, { stage, progress: progress.toFixed(4) });
    this.append(id, {
      type: 'progress',
      stage,
      step: step === null ? '' : String(step),
      total: total === null ? '' : String(total),
      progress: progress.toFixed(4),
    });
  }

  async finish(
    id: string,
    keyId: string,
    status: TerminalStatus,
    data: JobOutcomeFields,
    options: { onlyFrom?: 'queued' | 'processing'; now?: number } = {},
  ): Promise<FinishOutcome> {
    await Promise.resolve();
    const h = this.hashes.get(id);
    if (!h?.['status']) return { kind: 'missing' };
    const current = h['status'] as JobStatus;
    if (current !== 'queued' && current !== 'processing') return { kind: 'settled', status: current };
    if (options.onlyFrom && current !== options.onlyFrom) return { kind: 'settled', status: current };
    Object.assign(h, encodeOutcome(data), { status, completed_at: String(options.now ?? Date.now()) });
    delete h['stage'];
    if (status === 'succeeded') h['progress'] = '1';
    delete h['held_limit'];
    delete h['held_deadline_ms'];
    delete h['attached_to'];
    this.waiting.delete(id);
    this.intents.delete(id);
    this.running.delete(id);
    this.held.get(keyId)?.delete(id);
    this.unfinished.get(keyId)?.delete(id);
    this.append(id, { type: 'completed', status });
    const now = options.now ?? Date.now();
    const released = this.release(keyId, now);
    const attached = this.releaseAttached(id, keyId, status === 'succeeded', now);
    if (attached.length > 0) await settleAttached(this, attached, status, data, this.attachedHooks);
    return { kind: 'done', released, attached };
  }

  /** The jobs attached to a finished one, moved into the waiting set (lua/finish-12.lua). */
  private releaseAttached(id: string, keyId: string, atHead: boolean, now: number): ReleasedJob[] {
    const out: ReleasedJob[] = [];
    for (const other of this.attached.get(id) ?? []) {
      const h = this.hashes.get(other);
      if (h?.['status'] !== 'queued' || h['attached_to'] !== id) continue;
      const priority = this.enterWaiting(other, keyId, Number(h['seq']), atHead);
      this.intents.set(other, Date.now());
      h['priority'] = String(priority);
      h['deadline_at'] = String(now + Number(h['held_deadline_ms'] ?? 0));
      delete h['attached_to'];
      delete h['held_deadline_ms'];
      out.push({ id: other, keyId, objectKey: h['object_key'] ?? '', priority });
    }
    this.attached.delete(id);
    return out;
  }

  /** The key's oldest held job, moved into the waiting set when the key is under its limit. */
  private release(keyId: string, now: number): ReleasedJob | null {
    const held = this.held.get(keyId);
    const next = held ? [...held.entries()].sort((a, b) => a[1] - b[1])[0] : undefined;
    if (!held || !next) return null;
    const [id, seq] = next;
    const h = this.hashes.get(id);
    if (h?.['status'] !== 'queued') {
      held.delete(id);
      return null;
    }
    const slots = this.unfinished.get(keyId) ?? new Set<string>();
    if (slots.size >= Number(h['held_limit'] ?? 0)) return null;
    held.delete(id);
    const priority = this.enterWaiting(id, keyId, seq);
    slots.add(id);
    this.unfinished.set(keyId, slots);
    this.intents.set(id, Date.now());
    h['priority'] = String(priority);
    h['deadline_at'] = String(now + Number(h['held_deadline_ms'] ?? 0));
    delete h['held_limit'];
    delete h['held_deadline_ms'];
    return { id, keyId, objectKey: h['object_key'] ?? '', priority };
  }

  async setRevisedPrompt(id: string, prompt: string): Promise<void> {
    await Promise.resolve();
    const h = this.unfinishedHash(id);
    if (h) h[REVISED_PROMPT_FIELD] = prompt;
  }

  async countEngineCrash(id: string): Promise<void> {
    await Promise.resolve();
    const h = this.unfinishedHash(id);
    if (h) h[ENGINE_CRASHES_FIELD] = String(Number(h[ENGINE_CRASHES_FIELD] ?? 0) + 1);
  }

  async countShutdownAbandon(id: string): Promise<void> {
    await Promise.resolve();
    const h = this.unfinishedHash(id);
    if (h) h[SHUTDOWN_ABANDONS_FIELD] = String(Number(h[SHUTDOWN_ABANDONS_FIELD] ?? 0) + 1);
  }

  async requestCancel(id: string): Promise<JobStatus | 'missing'> {
    await Promise.resolve();
    const h = this.hashes.get(id);
    if (!h?.['status']) return 'missing';
    if (h['status'] === 'processing') {
      h['cancel_requested'] = '1';
      this.cancelRequests.push(id);
    }
    return h['status'] as JobStatus;
  }

  async recordWebhookAttempt(id: string, attempt: WebhookAttempt): Promise<void> {
    await Promise.resolve();
    const h = this.hashes.get(id);
    if (!h) return;
    this.webhookAttempts.push({ id, attempt });
    h['wh_attempts'] = String(Number(h['wh_attempts'] ?? 0) + 1);
    // The terminal event's outcome is what the job shows; earlier events only fill in until then.
    if (attempt.terminal || h['wh_final'] !== '1') {
      Object.assign(h, {
        wh_status: attempt.status,
        wh_last_attempt_at: String(attempt.at),
        wh_last_error: attempt.error ?? '',
      });
      if (attempt.deliveredAt !== null) h['wh_delivered_at'] = String(attempt.deliveredAt);
      if (attempt.terminal) h['wh_final'] = '1';
    }
  }

  async expireOverdue(now = Date.now(), limit = 500): Promise<{ id: string; keyId: string }[]> {
    // The most overdue first (the Redis repository's deadline index), whatever the fair order.
    const deadline = (id: string) => Number(this.hashes.get(id)?.['deadline_at'] ?? Infinity);
    const ids = [...this.waiting.keys()]
      .filter((id) => deadline(id) < now)
      .sort((a, b) => deadline(a) - deadline(b))
      .slice(0, limit);
    const expired: { id: string; keyId: string }[] = [];
    for (const id of ids) {
      const h = this.hashes.get(id);
      if (!h?.['key_id'] || Number(h['deadline_at']) >= now) continue;
      const r = await this.finish(
        id,
        h['key_id'],
        'expired',
        { error: EXPIRED_ERROR },
        { onlyFrom: 'queued', now },
      );
      if (r.kind === 'done') expired.push({ id, keyId: h['key_id'] });
    }
    return expired;
  }

  async enqueueIntents(olderThanMs: number, limit = 500): Promise<string[]> {
    await Promise.resolve();
    const before = Date.now() - olderThanMs;
    return [...this.intents.entries()]
      .filter(([, at]) => at < before)
      .sort((a, b) => a[1] - b[1])
      .slice(0, limit)
      .map(([id]) => id);
  }

  async runningSince(olderThanMs: number, limit = 500): Promise<{ id: string; keyId: string }[]> {
    await Promise.resolve();
    const before = Date.now() - olderThanMs;
    const out: { id: string; keyId: string }[] = [];
    for (const [id] of [...this.running.entries()]
      .filter(([, at]) => at < before)
      .sort((a, b) => a[1] - b[1])) {
      const h = this.hashes.get(id);
      if (h?.['status'] === 'processing' && h['key_id']) out.push({ id, keyId: h['key_id'] });
      else this.running.delete(id);
      if (out.length === limit) break;
    }
    return out;
  }

  async clearEnqueueIntent(...ids: string[]): Promise<void> {
    await Promise.resolve();
    for (const id of ids) this.intents.delete(id);
  }

  private unfinishedHash(id: string): Record<string, string> | null {
    const h = this.hashes.get(id);
    return h && (h['status'] === 'queued' || h['status'] === 'processing') ? h : null;
  }
}
