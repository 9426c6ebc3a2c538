/**
 * What the page says when something does not give an image: a refusal (with its policy category), a
 * withheld image, a rate limit (with the Retry-After time), a full queue, a failure, a cancel. No DOM.
 */
import {
  AuthenticationError,
  ConnectionError,
  ContentModeratedError,
  ContentPolicyError,
  GenerationFailedError,
  ImageGenError,
  InvalidRequestError,
  JobCanceledError,
  JobExpiredError,
  RateLimitError,
  ServiceUnavailableError,
} from '@imagegen/client';

import { categoryText } from './catalog.js';

export interface Problem {
  /** One short line: what happened. */
  title: string;
  /** What it means and what to change. */
  detail: string;
  /** Seconds the service asked to wait before trying again (Retry-After), when it said. */
  retryAfterS?: number;
  /** Which control the user should look at. */
  focus?: 'key' | 'prompt';
  /** `error` for what went wrong; `info` for what the user did (cancel). */
  tone: 'error' | 'info';
}

const retryS = (e: ImageGenError) =>
  e.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(e.retryAfterMs / 1000));

/** The problem an error from `@imagegen/client` (or anything thrown) stands for. */
export function describeProblem(e: unknown, tolerance?: number): Problem {
  if (e instanceof ContentPolicyError) {
    const at = tolerance === undefined ? '' : ` at safety tolerance ${tolerance}`;
    return {
      tone: 'error',
      title: 'Prompt refused',
      detail: `This prompt falls under ${categoryText(e.category)}${at}, so no image was made. Rephrase it${
        e.category === 'illegal' ? '' : ', or use a higher tolerance where that is appropriate'
      }.`,
      focus: 'prompt',
    };
  }
  if (e instanceof ContentModeratedError) {
    return {
      tone: 'error',
      title: 'Image withheld',
      detail: `The generated image failed the safety check (${categoryText(e.category)}) and was not kept. Try another prompt or seed.`,
    };
  }
  if (e instanceof RateLimitError) {
    const s = retryS(e);
    const title = e.code === 'concurrency_limit_exceeded' ? 'Too many jobs running' : 'Rate limited';
    return {
      tone: 'error',
      title,
      detail: e.message,
      ...(s === undefined ? {} : { retryAfterS: s }),
    };
  }
  if (e instanceof ServiceUnavailableError) {
    const s = retryS(e);
    return {
      tone: 'error',
      title: e.code === 'queue_full' ? 'The queue is full' : 'Service unavailable',
      detail: e.message,
      ...(s === undefined ? {} : { retryAfterS: s }),
    };
  }
  if (e instanceof AuthenticationError) {
    return {
      tone: 'error',
      title: 'API key refused',
      detail: 'The service does not accept this API key (unknown or revoked). Paste a valid key above.',
      focus: 'key',
    };
  }
  if (e instanceof InvalidRequestError) {
    return {
      tone: 'error',
      title: 'Invalid request',
      detail: e.param ? `${e.param}: ${e.message}` : e.message,
      ...(e.param === 'prompt' ? { focus: 'prompt' as const } : {}),
    };
  }
  if (e instanceof JobCanceledError) {
    return { tone: 'info', title: 'Canceled', detail: 'The job was canceled; nothing was stored.' };
  }
  if (e instanceof JobExpiredError) {
    return {
      tone: 'error',
      title: 'Expired in the queue',
      detail: "No worker took the job before the queue's deadline. Try again when the service is less busy.",
    };
  }
  if (e instanceof GenerationFailedError) {
    const retryable = e.job?.error?.retryable;
    return {
      tone: 'error',
      title: 'Generation failed',
      detail: `${e.message} (${e.code}).${retryable === false ? '' : ' Trying again may work.'}`,
    };
  }
  if (e instanceof ConnectionError) {
    return {
      tone: 'error',
      title: 'Service unreachable',
      detail: `${e.message}. Check that the service is running, then try again.`,
    };
  }
  if (e instanceof ImageGenError) {
    return { tone: 'error', title: 'Something went wrong', detail: `${e.message} (${e.code})` };
  }
  return { tone: 'error', title: 'Something went wrong', detail: e instanceof Error ? e.message : String(e) };
}
