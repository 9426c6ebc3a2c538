import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';

import { DeadlineExceededError, StorageError } from '@imagegen/contracts';
import * as Minio from 'minio';

type Transport = NonNullable<Minio.ClientOptions['transport']>;

/**
 * The abort signal of the ObjectStore call in progress. minio-js 8 takes no AbortSignal and no request
 * timeout, but it sends every request through `transport.request`, inside the async context of the call
 * that caused it; the transport below reads the signal from here and hands it to `http.request`, which
 * destroys the request and its socket when the signal aborts.
 */
const callSignal = new AsyncLocalStorage<AbortSignal>();
/**
 * S3 calls in progress. While an AsyncLocalStorage is enabled, Node 20 runs async hooks on every promise
 * of the process (about 0.05 ms of an API submit's CPU, which never touches S3): the storage is turned
 * off whenever no call is in progress, and `run` turns it back on for the next one.
 */
let callsInProgress = 0;

/** `http` or `https`, with every request bound to the signal of the ObjectStore call that made it. */
export function abortableTransport(base: Transport): Transport {
  const request = (options: RequestOptions, callback?: (res: IncomingMessage) => void): ClientRequest => {
    const signal = callSignal.getStore();
    return base.request(signal === undefined ? options : { ...options, signal }, callback);
  };
  return { request: request as Transport['request'] };
}

/**
 * Runs one S3 call with a deadline. Rejects with
 * - `StorageError` (retryable) whose cause is a `DeadlineExceededError` when `timeoutMs` passes first;
 *   the call's HTTP requests are destroyed, so a server that never answers holds no socket;
 * - `signal.reason`, unchanged, when the caller's `signal` aborts first (also when it already has);
 * - `StorageError` whose cause is the original error for every other failure (refused connection,
 *   S3 error response), so callers branch on the class and `code`, never on a message.
 */
export async function withDeadline<T>(
  what: string,
  timeoutMs: number,
  run: () => Promise<T>,
  callerSignal?: AbortSignal,
): Promise<T> {
  callerSignal?.throwIfAborted();
  const timer = new AbortController();
  const signal = callerSignal ? AbortSignal.any([timer.signal, callerSignal]) : timer.signal;
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const timeout = setTimeout(
    () => timer.abort(new DeadlineExceededError(`S3 ${what}`, timeoutMs)),
    timeoutMs,
  );
  callsInProgress += 1;
  const work = callSignal.run(signal, async () => run());
  // Once the race below has answered, minio still rejects for the request it lost; nobody needs that.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, aborted]);
  } catch (e) {
    const cause: unknown = signal.aborted ? signal.reason : e;
    if (cause instanceof DeadlineExceededError) {
      throw new StorageError(`the object store did not answer ${what} within ${timeoutMs} ms`, { cause });
    }
    if (signal.aborted) throw cause;
    throw new StorageError(`the object store failed ${what}`, { cause });
  } finally {
    clearTimeout(timeout);
    signal.removeEventListener('abort', onAbort);
    // A request the call lost to its deadline was destroyed with its signal; nothing more is sent for it.
    if (--callsInProgress === 0) callSignal.disable();
  }
}

/** An error response from the S3 server itself (as opposed to no answer or a broken connection). */
export function s3ErrorCode(e: unknown): string | undefined {
  const cause = e instanceof StorageError ? e.cause : e;
  return cause instanceof Minio.S3Error ? (cause.code ?? 'UnknownError') : undefined;
}
