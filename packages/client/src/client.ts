import { environmentDefaults } from './config.js';
import { ConnectionError, errorFromJob, ImageGenError, WaitTimeoutError } from './errors.js';
import { readSse, SseParser } from './sse.js';
import { JobList } from './list.js';
import { sleep, Transport, type RetryInfo, type RetryPolicy } from './transport.js';
import {
  isTerminal,
  type AnalyzeParams,
  type GenerateImageResult,
  type GenerateParams,
  type Job,
  type JobEvent,
  type ListPage,
  type ListParams,
  type PromptAnalysis,
} from './types.js';

export interface ImageGenOptions {
  /** An API key (`ig_…`); default `IMAGEGEN_API_KEY` (Node). */
  apiKey?: string | undefined;
  /** The service's base URL; default `IMAGEGEN_BASE_URL` (Node), else `http://localhost:8080` (`npm start`). */
  baseURL?: string | undefined;
  /** Retries after the first try of each call (default 4). */
  maxRetries?: number;
  /** First backoff delay, doubled each retry with ±25 % jitter (default 500 ms). */
  retryBaseDelayMs?: number;
  /** The longest wait between tries; `Retry-After` is honoured up to it (default 30 000 ms). */
  maxRetryDelayMs?: number;
  /** Each try's deadline, beyond any wait asked of the server (default 60 000 ms). */
  timeoutMs?: number;
  /** Seconds each long-poll asks the server to hold the answer (default 30; the service allows ≤ 60). */
  longPollSeconds?: number;
  /** A fetch implementation (default the global one). */
  fetch?: typeof fetch;
  /** Called before each retry: what failed and how long the client waits. */
  onRetry?: (info: RetryInfo) => void;
}

export interface RequestOptions {
  signal?: AbortSignal | undefined;
}

export interface SubmitOptions extends RequestOptions {
  /** Makes the submit safe to repeat: the same key and body within 24 h return the same job. Default: a new UUID. */
  idempotencyKey?: string | undefined;
  /** Hold the answer until the job ends or this many seconds pass (`Prefer: wait`, ≤ 60). */
  waitSeconds?: number | undefined;
  /**
   * Result reuse: a request with an explicit seed identical to an earlier one of the same key is answered
   * from a copy of that result (`job.cached: true`). `false` sends `Cache-Control: no-cache`: generated anew.
   */
  cache?: boolean | undefined;
}

export interface WaitOptions extends RequestOptions {
  /** Give up (WaitTimeoutError) after this long; default: wait as long as it takes. */
  timeoutMs?: number | undefined;
}

export interface EventsOptions extends RequestOptions {
  /** Resume after this event id (what an earlier stream's last event had). */
  lastEventId?: string | undefined;
  /**
   * Also receive live previews while the job is denoising: extra `progress` events whose `data.preview`
   * is a small JPEG as a `data:image/jpeg;base64,…` URL (≤ 256 px on its long side; at most every
   * PREVIEW_EVERY_STEPS steps and twice a second). Previews are never stored: a resumed stream does not
   * replay them. Default false.
   */
  previews?: boolean | undefined;
}

export type GenerateImageOptions = SubmitOptions & WaitOptions;

/** Where an image is: a job, a `generateImage` result, or the URL itself. */
export type ImageSource = Job | GenerateImageResult | string;

const path = (id: string, tail = '') => `/v1/images/generations/${encodeURIComponent(id)}${tail}`;

/**
 * A client of the imagegen API. `generateImage` does what the vendor's SDK does (submit, wait, return
 * `image_url` and `seed`); the rest are the asynchronous service's parts: submit, get, wait, events,
 * cancel, list, analyze and download. Every call retries 429/502/503/504 and network failures (honouring
 * `Retry-After`); a submit always carries an `Idempotency-Key`, so a retry never makes a second job.
 */
export class ImageGen {
  readonly baseURL: string;
  protected readonly transport: Transport;
  private readonly longPollSeconds: number;
  private readonly retry: RetryPolicy;

  constructor(options: ImageGenOptions = {}) {
    const env = environmentDefaults();
    const apiKey = options.apiKey ?? env.apiKey;
    if (!apiKey) {
      throw new ImageGenError(
        'missing_api_key',
        'no API key: pass { apiKey } or set IMAGEGEN_API_KEY (npm start keeps one in .imagegen/api-key)',
      );
    }
    this.baseURL = (options.baseURL ?? env.baseURL ?? 'http://localhost:8080').replace(/\/+$/, '');
    this.retry = {
      maxRetries: options.maxRetries ?? 4,
      baseDelayMs: options.retryBaseDelayMs ?? 500,
      maxDelayMs: options.maxRetryDelayMs ?? 30_000,
    };
    this.longPollSeconds = options.longPollSeconds ?? 30;
    this.transport = new Transport({
      baseURL: this.baseURL,
      apiKey,
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      retry: this.retry,
      timeoutMs: options.timeoutMs ?? 60_000,
      onRetry: options.onRetry,
    });
  }

  /**
   * Generates one image and resolves when it is ready: the vendor's `{ image_url, seed, request_id,
   * revised_prompt }` plus the whole `job`. Rejects with a typed error when the prompt is refused
   * (`ContentPolicyError`), the image is moderated (`ContentModeratedError`), the job fails, is canceled or
   * expires, or `timeoutMs` passes (`WaitTimeoutError`; the job goes on).
   */
  async generateImage(
    params: GenerateParams,
    options: GenerateImageOptions = {},
  ): Promise<GenerateImageResult> {
    const started = Date.now();
    let job = await this.submit(params, {
      ...options,
      waitSeconds: options.waitSeconds ?? this.longPollSeconds,
    });
    if (!isTerminal(job.status)) {
      const timeoutMs =
        options.timeoutMs === undefined ? undefined : options.timeoutMs - (Date.now() - started);
      job = await this.wait(job.id, { signal: options.signal, timeoutMs });
    }
    const failed = errorFromJob(job);
    if (failed) throw failed;
    if (job.image_url === null) {
      throw new ImageGenError('image_expired', `the image of ${job.id} has expired`, {
        job,
        requestId: job.request_id,
      });
    }
    return {
      image_url: job.image_url,
      seed: job.seed,
      request_id: job.request_id,
      revised_prompt: job.revised_prompt,
      job,
    };
  }

  /** Submits a generation; resolves to the job as queued (or finished, with `waitSeconds`). */
  async submit(params: GenerateParams, options: SubmitOptions = {}): Promise<Job> {
    const wait = options.waitSeconds ?? 0;
    return this.transport.json<Job>('POST', '/v1/images/generations', {
      body: params,
      headers: {
        'idempotency-key': options.idempotencyKey ?? crypto.randomUUID(),
        ...(wait > 0 ? { prefer: `wait=${wait}` } : {}),
        ...(options.cache === false ? { 'cache-control': 'no-cache' } : {}),
      },
      signal: options.signal,
      serverWaitMs: wait * 1000,
    });
  }

  /** The job; with `waitSeconds`, the server holds the answer until it ends or that many seconds pass. */
  async get(id: string, options: RequestOptions & { waitSeconds?: number } = {}): Promise<Job> {
    const wait = options.waitSeconds ?? 0;
    return this.transport.json<Job>('GET', path(id), {
      query: wait > 0 ? { wait: String(wait) } : {},
      signal: options.signal,
      serverWaitMs: wait * 1000,
    });
  }

  /** Long-polls until the job ends, whatever its outcome (it does not throw for `failed` and the like). */
  async wait(id: string, options: WaitOptions = {}): Promise<Job> {
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    for (;;) {
      const leftS = Math.ceil((deadline - Date.now()) / 1000);
      const job = await this.get(id, {
        signal: options.signal,
        waitSeconds: Math.max(0, Math.min(this.longPollSeconds, leftS)),
      });
      if (isTerminal(job.status)) return job;
      if (Date.now() >= deadline) {
        throw new WaitTimeoutError('timeout', `${id} is still ${job.status} after ${options.timeoutMs} ms`, {
          job,
          requestId: job.request_id,
        });
      }
    }
  }

  /**
   * The job's server-sent events as they happen — `queued` (`queue_position`), `started`, `progress`
   * (`stage`, `step`, `total`; with `previews: true` also live `preview` images), then one `completed`
   * carrying the job — from the start, or after
   * `lastEventId`. A dropped or ended stream is resumed with `Last-Event-ID`, so every event arrives once
   * and in order; the iterator ends after `completed`. Breaking out of the loop closes the stream.
   */
  async *events(id: string, options: EventsOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
    let last = options.lastEventId;
    let failures = 0;
    let error: ImageGenError | undefined;
    const parser = new SseParser();
    for (;;) {
      const res = await this.transport.send('GET', path(id, '/events'), {
        headers: last === undefined ? {} : { 'last-event-id': last },
        query: { previews: options.previews ? '1' : undefined },
        signal: options.signal,
        streaming: true,
      });
      try {
        for await (const message of readSse(res.body!, parser)) {
          if (!isEventType(message.event)) continue;
          // A preview has no id of its own (it is not stored): it keeps the stream's last id.
          const eventId = message.id ?? last;
          if (eventId === undefined) continue;
          last = eventId;
          failures = 0;
          const event = {
            id: eventId,
            type: message.event,
            data: JSON.parse(message.data) as unknown,
          } as JobEvent;
          yield event;
          if (event.type === 'completed') return;
        }
        error = new ConnectionError('connection_error', `the event stream of ${id} ended before the job did`);
      } catch (e) {
        if (options.signal?.aborted) throw options.signal.reason as Error;
        error = new ConnectionError('connection_error', `the event stream of ${id} broke`, { cause: e });
      }
      // Ended or broke before `completed` (a restart, a proxy's idle timeout): resume where it stopped.
      failures++;
      if (failures > this.retry.maxRetries) throw error;
      const backoff = (parser.retryMs ?? 1000) * 2 ** (failures - 1);
      await sleep(Math.min(backoff, this.retry.maxDelayMs), options.signal);
    }
  }

  /** Cancels a job (idempotent): the job, `canceled` — or still running if it has not stopped within 10 s. */
  async cancel(id: string, options: RequestOptions = {}): Promise<Job> {
    return this.transport.json<Job>('POST', path(id, '/cancel'), { signal: options.signal });
  }

  /** One page of this key's jobs, newest first. */
  async listPage(params: ListParams = {}, options: RequestOptions = {}): Promise<ListPage> {
    const status = Array.isArray(params.status) ? params.status.join(',') : params.status;
    return this.transport.json<ListPage>('GET', '/v1/images/generations', {
      query: {
        limit: params.limit === undefined ? undefined : String(params.limit),
        status: status || undefined,
        cursor: params.cursor,
      },
      signal: options.signal,
    });
  }

  /**
   * This key's jobs, newest first, fetched a page (`limit`) at a time as the loop asks for them:
   * `for await (const job of client.list({ status: 'succeeded' }))`; `.pages()` iterates whole pages.
   */
  list(params: ListParams = {}, options: RequestOptions = {}): JobList {
    return new JobList((cursor) => this.listPage({ ...params, cursor }, options), params.cursor);
  }

  /** Checks a prompt as a submit would (analysis, warnings, moderation verdict) without queueing anything. */
  async analyze(params: AnalyzeParams, options: RequestOptions = {}): Promise<PromptAnalysis> {
    return this.transport.json<PromptAnalysis>('POST', '/v1/prompts/analyze', {
      body: params,
      signal: options.signal,
    });
  }

  /** The image as a Blob (in Node, `download(source, file)` from the Node entry writes it to a file). */
  async download(source: ImageSource, options: RequestOptions = {}): Promise<Blob> {
    return (await this.fetchImage(source, options)).blob();
  }

  /** The image's response; the presigned URL is fetched without the API key. */
  protected async fetchImage(source: ImageSource, options: RequestOptions): Promise<Response> {
    return this.transport.fetchUrl(imageUrl(source), options.signal);
  }
}

function isEventType(name: string): name is JobEvent['type'] {
  return name === 'queued' || name === 'started' || name === 'progress' || name === 'completed';
}

function imageUrl(source: ImageSource): string {
  if (typeof source === 'string') return source;
  const job = 'job' in source ? source.job : source;
  const failed = errorFromJob(job);
  if (failed) throw failed;
  if (!isTerminal(job.status)) {
    throw new ImageGenError('not_ready', `${job.id} is still ${job.status}; wait for it first`, { job });
  }
  if (job.image_url === null) {
    throw new ImageGenError('image_expired', `the image of ${job.id} has expired (images live one hour)`, {
      job,
      requestId: job.request_id,
    });
  }
  return job.image_url;
}
