/**
 * In-memory fakes of the services' ports for the fast test tier: no Redis, no S3, no engine, no ports.
 * The job repository fake is `MemoryJobRepository` from `@imagegen/jobs/testing`; these are the others.
 */
import type {
  ApiKeyInfo,
  ApiKeyRepository,
  KeyScheduling,
  RateLimiter,
  TokenDecision,
} from '@imagegen/access';
import { EngineLostError, type GenerationPayload, type NewJobRecord } from '@imagegen/contracts';
import type { GenerateEntry, GenerateHooks, GenerateInput, GenerateResult } from '@imagegen/engine';
import type { GenerationQueue, KeySchedulingSettings, Presigner } from '@imagegen/jobs';
import type { MemoryJobRepository } from '@imagegen/jobs/testing';
import { createLogger, type Logger } from '@imagegen/observability';

/** A logger that writes nothing. */
export const silentLogger = (): Logger => createLogger('test', 'silent');

/** A promise with its resolve/reject exposed. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** API keys in memory: each secret maps to a key id; each key id has its webhook signing secrets. */
export class FakeApiKeys implements ApiKeyRepository {
  readonly secrets = new Map<string, string>();
  readonly webhook = new Map<string, string[]>();
  readonly revoked = new Set<string>();
  private n = 0;

  /** `scheduling`: each key's weight and policy (share MemoryJobRepository's keySettings to apply them). */
  constructor(
    keys: Record<string, string> = {},
    readonly scheduling = new Map<string, Partial<KeySchedulingSettings>>(),
  ) {
    for (const [secret, id] of Object.entries(keys)) this.secrets.set(secret, id);
  }

  setScheduling(id: string, settings: KeyScheduling): Promise<ApiKeyInfo | null> {
    if (![...this.secrets.values()].includes(id)) return Promise.resolve(null);
    this.scheduling.set(id, { ...this.scheduling.get(id), ...settings });
    return this.list().then((all) => all.find((k) => k.id === id) ?? null);
  }

  create(_name: string): Promise<{ id: string; secret: string; webhookSecret: string }> {
    const id = `key${++this.n}`;
    const secret = `secret-${id}`;
    const webhookSecret = `whsec_${Buffer.alloc(32, this.n).toString('base64')}`;
    this.secrets.set(secret, id);
    this.webhook.set(id, [webhookSecret]);
    return Promise.resolve({ id, secret, webhookSecret });
  }

  ensure(secret: string): Promise<{ id: string; created: boolean; revokedAt: number | null }> {
    const known = this.secrets.get(secret);
    const id = known ?? `key${++this.n}`;
    this.secrets.set(secret, id);
    return Promise.resolve({ id, created: known === undefined, revokedAt: this.revoked.has(id) ? 0 : null });
  }

  webhookSecrets(id: string): Promise<string[]> {
    return Promise.resolve([...(this.webhook.get(id) ?? [])]);
  }

  rotateWebhookSecret(): Promise<null> {
    return Promise.resolve(null);
  }

  verify(secret: string): Promise<string | null> {
    const id = this.secrets.get(secret);
    return Promise.resolve(id === undefined || this.revoked.has(id) ? null : id);
  }

  revoke(id: string): Promise<boolean> {
    this.revoked.add(id);
    return Promise.resolve(true);
  }

  list(): Promise<ApiKeyInfo[]> {
    const ids = [...new Set(this.secrets.values())].sort();
    return Promise.resolve(
      ids.map((id) => ({
        id,
        name: id,
        createdAt: 0,
        revokedAt: this.revoked.has(id) ? 0 : null,
        weight: this.scheduling.get(id)?.weight ?? 1,
        concurrencyPolicy: this.scheduling.get(id)?.concurrencyPolicy ?? 'reject',
      })),
    );
  }
}

/** A token bucket per bucket name that never refills (no clock): `perMinute` requests, then refusals. */
export class FakeRateLimiter implements RateLimiter {
  readonly used = new Map<string, number>();

  take(bucket: string, perMinute: number, cost = 1): Promise<TokenDecision> {
    const used = this.used.get(bucket) ?? 0;
    if (used >= perMinute) {
      return Promise.resolve({ allowed: false, remaining: 0, retryAfterMs: Math.ceil(60_000 / perMinute) });
    }
    this.used.set(bucket, used + cost);
    return Promise.resolve({ allowed: true, remaining: perMinute - used - cost, retryAfterMs: 0 });
  }
}

/** The generation queue: records what was enqueued and removed; can be told to fail or to hang. */
export class FakeGenerationQueue implements GenerationQueue {
  readonly enqueued: GenerationPayload[] = [];
  /** The priority each enqueued job was given, by job id. */
  readonly priorities = new Map<string, number>();
  readonly removed: string[] = [];
  /** 'ok', an error to throw, or 'hang' (the call never settles until `release`). */
  mode: 'ok' | 'hang' | Error = 'ok';
  private hung = deferred();

  enqueue(payload: GenerationPayload, priority = 0): Promise<void> {
    if (this.mode instanceof Error) return Promise.reject(this.mode);
    this.enqueued.push(payload);
    this.priorities.set(payload.id, priority);
    return this.mode === 'hang' ? this.hung.promise : Promise.resolve();
  }

  /** Settles every hanging enqueue. */
  release(): void {
    this.hung.resolve();
    this.hung = deferred();
  }

  remove(jobId: string): Promise<void> {
    this.removed.push(jobId);
    return Promise.resolve();
  }

  /** BullMQ's state of each job, as a test sets it ('unknown' when unset). */
  readonly states = new Map<string, string>();

  state(jobId: string): Promise<string> {
    return Promise.resolve(this.states.get(jobId) ?? 'unknown');
  }

  counts(): Promise<Record<string, number>> {
    return Promise.resolve({ waiting: this.enqueued.length - this.removed.length });
  }

  /** BullMQ's gauge in its own format, from the fake's one count. */
  prometheusMetrics(labels: Record<string, string>): Promise<string> {
    const extra = Object.entries(labels)
      .map(([k, v]) => `, ${k}="${v}"`)
      .join('');
    const waiting = this.enqueued.length - this.removed.length;
    return Promise.resolve(
      `# HELP bullmq_job_count Number of jobs in the queue by state\n# TYPE bullmq_job_count gauge\n` +
        `bullmq_job_count{queue="generations", state="waiting"${extra}} ${waiting}`,
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export const IMAGE_TTL_MS = 3_600_000;

/** Presigned URLs are deterministic: `https://images.test/<key>?until=<expiry>`; null once expired. */
export class FakeStorage implements Presigner {
  readonly config = { objectTtlMs: IMAGE_TTL_MS };
  healthy = true;

  presign(key: string, completedAt: number, now = Date.now()): Promise<{ url: string } | null> {
    const until = completedAt + IMAGE_TTL_MS;
    return Promise.resolve(now >= until ? null : { url: `https://images.test/${key}?until=${until}` });
  }

  ping(): Promise<boolean> {
    return Promise.resolve(this.healthy);
  }

  /** The bytes of an image: its key, as the fast tier stores nothing. */
  read(key: string): Promise<Buffer> {
    return Promise.resolve(Buffer.from(key));
  }
}

/** The worker's image store: keeps what was put, records deletions; can be told to fail. */
export class FakeImageStore {
  readonly objects = new Map<string, { body: Buffer; contentType: string }>();
  readonly deleted: string[] = [];
  failWith: Error | null = null;

  put(key: string, body: Buffer, contentType: string): Promise<unknown> {
    if (this.failWith) return Promise.reject(this.failWith);
    this.objects.set(key, { body, contentType });
    return Promise.resolve({ etag: 'fake' });
  }

  delete(keys: string[]): Promise<void> {
    for (const k of keys) {
      this.deleted.push(k);
      this.objects.delete(k);
    }
    return Promise.resolve();
  }
}

export type EngineMode =
  | { kind: 'ok'; flagged?: string }
  | { kind: 'throw'; error: unknown }
  /** Never finishes until the signal aborts; then rejects as the engine does (a `canceled` error). */
  | { kind: 'hang' }
  /** The engine thread dies: `alive` turns false and the call rejects with EngineLostError. */
  | { kind: 'die' };

/** The image every successful fake generation returns. */
export const FAKE_IMAGE = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9]);

/** An engine port without a model: answers at once, or fails, hangs or dies as told. */
export class FakeEngine {
  alive = true;
  mode: EngineMode = { kind: 'ok' };
  /** When set, a thread that dies never ends (stuck in a native run): `exited` stays pending. */
  stuckOnDeath = false;
  readonly calls: GenerateInput[] = [];
  private started = deferred<GenerateInput>();
  private readonly exit = deferred<number>();
  /** Resolves with the exit code once the engine's thread has ended. */
  readonly exited: Promise<number> = this.exit.promise;

  /** Resolves with the input of the next (or current) generation once it has begun. */
  generating(): Promise<GenerateInput> {
    return this.started.promise;
  }

  warmup(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.alive = false;
    if (!this.stuckOnDeath) this.exit.resolve(0);
    return Promise.resolve();
  }

  /** Batches by aspect ratio and steps, as the real engine does by native size, steps and guidance. */
  batchKey(input: GenerateInput): string {
    return `${input.aspectRatio}/${input.steps ?? 0}/${input.guidance ?? 0}`;
  }

  /** The batches `generateBatch` was given, as their entries' prompts. */
  readonly batches: string[][] = [];

  /** Records the batch, then generates each entry as `generate` does. */
  generateBatch(entries: readonly GenerateEntry[]): Promise<GenerateResult>[] {
    this.batches.push(entries.map((e) => e.input.prompt));
    return entries.map((e) => this.generate(e.input, e.hooks));
  }

  async generate(input: GenerateInput, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    this.calls.push(input);
    this.started.resolve(input);
    this.started = deferred();
    hooks.onStage?.('generating');
    hooks.onStep?.(1, 2);
    const mode = this.mode;
    switch (mode.kind) {
      case 'throw':
        throw mode.error;
      case 'die':
        this.alive = false;
        if (!this.stuckOnDeath) this.exit.resolve(134);
        throw new EngineLostError('the engine thread exited with code 134');
      case 'hang':
        await new Promise<never>((_resolve, reject) => {
          const abort = () => reject(new Error('generation was canceled', { cause: hooks.signal?.reason }));
          if (hooks.signal?.aborted) abort();
          hooks.signal?.addEventListener('abort', abort, { once: true });
        });
        throw new Error('unreachable');
      case 'ok':
        break;
    }
    hooks.onStep?.(2, 2);
    hooks.onStage?.('safety_check');
    const [w, h] = input.aspectRatio === '1:1' ? [64, 64] : [96, 64];
    return {
      image: FAKE_IMAGE,
      format: input.format,
      mimeType: input.format === 'png' ? 'image/png' : 'image/jpeg',
      width: w,
      height: h,
      native: { width: w, height: h },
      seed: input.seed,
      steps: 2,
      guidance: 1,
      tokens: { count: 4, truncated: 0 },
      safety: {
        checked: true,
        flagged: mode.flagged !== undefined,
        label: mode.flagged ?? null,
        category: mode.flagged === undefined ? null : 'adult',
        scores: mode.flagged === undefined ? {} : { [mode.flagged]: 0.99 },
      },
      timings: {
        tokenize: 1,
        textEncode: 2,
        unet: 10,
        unetPerStep: 5,
        vae: 3,
        upscale: 0,
        safety: 1,
        encode: 1,
        total: 18,
      },
    };
  }
}

let jobCounter = 0;

/** A job id of the API's shape (`gen_` + 24 alphanumerics), unique within the process. */
export function testJobId(): string {
  return `gen_${String(++jobCounter).padStart(24, '0')}`;
}

/** A new job record as submit writes it; override any field. */
export function newJobRecord(overrides: Partial<NewJobRecord> = {}): NewJobRecord {
  const now = Date.now();
  const id = overrides.id ?? testJobId();
  return {
    id,
    keyId: 'key1',
    input: {
      prompt: 'a red cube on a table',
      aspect_ratio: '1:1',
      output_format: 'jpeg',
      seed: 7,
      prompt_upsampling: false,
      safety_tolerance: 2,
    },
    metadata: {},
    objectKey: `images/${id}.jpg`,
    requestId: 'req_test',
    createdAt: now,
    deadlineAt: now + 60_000,
    webhook: null,
    analysis: null,
    warnings: [],
    ...overrides,
  };
}

/** Submits a queued job straight into the repository (no limits); returns its id. */
export async function seedJob(repo: MemoryJobRepository, overrides: Partial<NewJobRecord> = {}) {
  const job = newJobRecord(overrides);
  const r = await repo.submit(job, { concurrency: 1000, queueBound: 0 }, null);
  if (r.kind !== 'created') throw new Error(`seeding ${job.id}: ${r.kind}`);
  return job;
}
