import type { DenoiseRequest } from './pipeline.js';
import type { PreviewPlan, WorkerReply } from './protocol.js';

/** The types of `ThreadClient`'s options, calls and pending replies. */

export interface ThreadOptions {
  /** Module run in the thread instead of `worker-main` (fault injection, instrumentation). */
  entry?: URL | undefined;
  /** How long an aborted call may keep the thread before the thread is given up. */
  abortGraceMs: number;
  /** How long `close()` waits for the thread to release its sessions before giving it up. */
  closeTimeoutMs: number;
}

/** Bounds of one call into the thread. */
export interface CallLimits {
  /** Aborting asks the thread to stop (generate: at the next step); after the abort grace it is given up. */
  signal?: AbortSignal | undefined;
  /** Epoch ms. When it passes with the call unanswered, the thread is given up. */
  deadlineAt?: number | undefined;
}

export type Pending = {
  /** The message the request belongs to (its own id, or a batch's first item's). */
  group: number;
  resolve: (reply: WorkerReply) => void;
  reject: (e: Error) => void;
  onProgress?: (step: number, total: number) => void;
  onPreview?: (preview: PreviewReply) => void;
};

export type PreviewReply = Extract<WorkerReply, { kind: 'preview' }>;

/** Live previews of one generation, as the thread client asks for them. */
export interface ThreadPreviews {
  plan: PreviewPlan;
  /** Read at the start and at each step: whether previews are wanted now. */
  wanted: () => boolean;
  onPreview: (preview: PreviewReply) => void;
}

/** One request of `generateBatch`, with its own bounds, progress callback and previews. */
export interface GenerateCall {
  request: DenoiseRequest;
  limits: CallLimits;
  onProgress: (step: number, total: number) => void;
  previews?: ThreadPreviews | undefined;
}

/** Distributive Omit, so each request variant keeps its own fields. */
export type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
