import { ConnectionError, errorFromResponse, ImageGenError } from './errors.js';

/** How requests are retried: 429, 502, 503, 504 and network failures, with exponential backoff. */
export interface RetryPolicy {
  /** Retries after the first try (default 4); 0 disables retrying. */
  maxRetries: number;
  /** The first backoff delay; each further retry doubles it, with ±25 % jitter (default 500 ms). */
  baseDelayMs: number;
  /**
   * The longest wait between two tries (default 30 s). A `Retry-After` from the server is honoured up to
   * this bound.
   */
  maxDelayMs: number;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  /** Why the previous try failed. */
  error: ImageGenError;
  method: string;
  path: string;
}

export interface TransportOptions {
  baseURL: string;
  apiKey: string;
  fetch: typeof fetch;
  retry: RetryPolicy;
  /** Each try's own deadline, beyond any server-side wait it asked for. */
  timeoutMs: number;
  onRetry: ((info: RetryInfo) => void) | undefined;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal | undefined;
  /** Added to the per-try deadline: how long the server was asked to hold the answer. */
  serverWaitMs?: number;
  /** Asks for `text/event-stream` instead of JSON. */
  streaming?: boolean;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The delay before retry number `attempt` (1-based): Retry-After when given, else exponential, both capped. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelayMs);
  const exp = policy.baseDelayMs * 2 ** (attempt - 1);
  return Math.round(Math.min(policy.maxDelayMs, exp * (0.75 + Math.random() * 0.5)));
}

/** The HTTP layer: authentication, JSON, deadlines, and retries of what is safe to repeat. */
export class Transport {
  constructor(readonly options: TransportOptions) {}

  url(path: string, query?: Record<string, string | undefined>): string {
    const url = new URL(this.options.baseURL.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    return url.toString();
  }

  /** A JSON call; resolves to the parsed body of a 2xx answer, or throws the typed error. */
  async json<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const res = await this.send(method, path, options);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new ImageGenError(
        'invalid_response',
        `the service answered ${res.status} with a body that is not JSON`,
        {
          status: res.status,
          requestId: res.headers.get('x-request-id') ?? undefined,
          cause,
        },
      );
    }
  }

  /**
   * Sends with retries; resolves to the first 2xx response. Every call this client makes is safe to
   * repeat: reads, cancels (idempotent) and submits (always with an Idempotency-Key).
   */
  async send(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {
      accept: options.streaming ? 'text/event-stream' : 'application/json',
      authorization: `Bearer ${this.options.apiKey}`,
      ...options.headers,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const url = this.url(path, options.query);
    return this.withRetries(
      method,
      path,
      options.signal,
      async (signal) => {
        const res = await this.options.fetch(url, { method, headers, body: body ?? null, signal });
        if (res.ok) return res;
        throw errorFromResponse(res.status, res.headers, await res.text());
      },
      options,
    );
  }

  /** GET of a URL outside the API (a presigned image URL): no API key, same retries. */
  async fetchUrl(url: string, signal: AbortSignal | undefined): Promise<Response> {
    return this.withRetries('GET', url, signal, async (s) => {
      const res = await this.options.fetch(url, { signal: s });
      if (res.ok) return res;
      const text = await res.text();
      if (res.status === 403 || res.status === 404) {
        throw new ImageGenError(
          'image_expired',
          `the image URL answered ${res.status}: it has expired or was deleted`,
          {
            status: res.status,
          },
        );
      }
      throw errorFromResponse(res.status, res.headers, text);
    });
  }

  private async withRetries(
    method: string,
    path: string,
    signal: AbortSignal | undefined,
    attempt: (signal: AbortSignal) => Promise<Response>,
    options: Pick<CallOptions, 'serverWaitMs'> = {},
  ): Promise<Response> {
    const policy = this.options.retry;
    for (let n = 0; ; n++) {
      const deadline = new AbortController();
      const timer = setTimeout(
        () => deadline.abort(new DOMException('the request timed out', 'TimeoutError')),
        this.options.timeoutMs + (options.serverWaitMs ?? 0),
      );
      const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
      let error: ImageGenError;
      try {
        // Only the answer's headers are bounded: a stream's body may last as long as its job.
        return await attempt(combined);
      } catch (e) {
        if (signal?.aborted) throw signal.reason as Error;
        if (e instanceof ImageGenError) {
          if (e.status === undefined || !RETRY_STATUSES.has(e.status)) throw e;
          error = e;
        } else {
          const timedOut = deadline.signal.aborted;
          error = new ConnectionError(
            'connection_error',
            timedOut
              ? `${method} ${path}: no answer within ${this.options.timeoutMs + (options.serverWaitMs ?? 0)} ms`
              : `${method} ${path}: ${describeNetworkError(e)}`,
            { cause: e },
          );
        }
      } finally {
        clearTimeout(timer);
      }
      if (n >= policy.maxRetries) throw error;
      const delayMs = retryDelayMs(policy, n + 1, error.retryAfterMs);
      this.options.onRetry?.({ attempt: n + 1, delayMs, error, method, path });
      await sleep(delayMs, signal);
    }
  }
}

/** fetch's TypeError says only "fetch failed"; the reason (ECONNREFUSED, …) is in its cause. */
export function describeNetworkError(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return `${cause.code} (${String(cause.message)})`;
  return e instanceof Error ? e.message : String(e);
}
