/**
 * A fault-injecting engine thread entry (`Engine.load({ threadEntry })`): the real engine, except that a
 * generate request (any request of a batch) whose prompt contains
 * - CRASH_MARKER ends the thread at once with exit code CRASH_EXIT_CODE (the process lives on), as a native
 *   crash or an out-of-memory exit of the thread would;
 * - FREEZE_MARKER blocks the thread for good outside any onnxruntime call (only `terminate()` ends it);
 * - DEAF_MARKER hides the request's cancel flag from the engine, as a thread stuck inside one native run
 *   never sees an abort (with a fast model the request then completes; with a looping one it stays stuck).
 * Its listener is installed before the real entry's, so it sees each request first.
 */
import { parentPort, workerData } from 'node:worker_threads';

export const CRASH_MARKER = '☠crash';
export const FREEZE_MARKER = '☠freeze';
export const DEAF_MARKER = '☠deaf';
export const CRASH_EXIT_CODE = 70;

/** This module's URL, to pass as `threadEntry`. */
export const CRASHING_ENGINE_THREAD = new URL(import.meta.url);

interface Request {
  kind: string;
  /** A generate message's requests (a batch of one or more). */
  items?: { request: { prompt: string }; cancel: SharedArrayBuffer }[];
}

// Imported by tests too (for the markers): only act inside an engine thread.
const standardEntry = (workerData as { standardEntry?: unknown } | null)?.standardEntry;
if (parentPort && typeof standardEntry === 'string') {
  parentPort.on('message', (msg: Request) => {
    for (const item of msg.kind === 'generate' ? (msg.items ?? []) : []) {
      const prompt = item.request.prompt;
      if (prompt.includes(CRASH_MARKER)) process.exit(CRASH_EXIT_CODE);
      if (prompt.includes(FREEZE_MARKER)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      // Every listener receives this same object, so the engine's listener reads the replaced flag.
      if (prompt.includes(DEAF_MARKER)) item.cancel = new SharedArrayBuffer(8);
    }
  });
  await import(standardEntry);
}
