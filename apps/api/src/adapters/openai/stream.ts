import type { Response } from 'express';

import type { AppError, JobRecord } from '@imagegen/contracts';

import { SseStream } from '../../http/sse.js';
import { openJobEventStream, type JobEventStreamDeps } from '../../services/job-event-stream.js';
import { VENDOR_SIZES } from '../aspect.js';
import { openAIErrorBody } from './errors.js';
import type { OpenAIImageRequest } from './request.js';

export interface OpenAIStreamDeps extends Omit<JobEventStreamDeps, 'jobs'> {
  jobs: JobEventStreamDeps['jobs'];
  storage: JobEventStreamDeps['storage'] & { read(key: string): Promise<Buffer> };
  shutdown?: AbortSignal | undefined;
}

/** How a stream's job ended without an image, as the OpenAI error the SDK raises from an `error` event. */
export type JobErrorOf = (record: JobRecord) => AppError;

const QUALITIES = new Set(['low', 'medium', 'high', 'auto']);

/** A job's event stream with previews, opened before the answer starts; `stop` ends it. */
export interface OpenedStream {
  events: Awaited<ReturnType<typeof openJobEventStream>>;
  stop: AbortController;
}

/** Opens job `jobId`'s events with live previews (subscribed once this resolves). */
export async function openImageStream(
  deps: OpenAIStreamDeps,
  keyId: string,
  jobId: string,
): Promise<OpenedStream> {
  const stop = new AbortController();
  const events = await openJobEventStream(deps, keyId, jobId, { previews: true, signal: stop.signal });
  return { events, stop };
}

/**
 * `stream: true`: OpenAI's server-sent events for one job. Each live preview of the engine (a JPEG of the
 * current latents, ≤ 256 px) becomes an `image_generation.partial_image` event, up to `partial_images`
 * (default 3); then one `image_generation.completed` event with the image as `b64_json`. A job that ends
 * without an image, or outlives `waitS`, ends the stream with an `error` event in OpenAI's error shape
 * (the SDK raises it); the job itself goes on.
 */
export async function streamImage(
  deps: OpenAIStreamDeps,
  res: Response,
  body: OpenAIImageRequest,
  record: JobRecord,
  { events, stop }: OpenedStream,
  waitS: number,
  errorOf: JobErrorOf,
  timeoutError: (ids: string) => AppError,
): Promise<void> {
  const timer = setTimeout(() => stop.abort(), waitS * 1000);
  const onShutdown = () => stop.abort();
  const sse = new SseStream(res, { retryMs: 2000, keepaliveMs: 15_000 });
  sse.onClose(onShutdown);
  if (deps.shutdown?.aborted) stop.abort();
  else deps.shutdown?.addEventListener('abort', onShutdown);
  const [w, h] = VENDOR_SIZES[record.input.aspect_ratio];
  const common = {
    size: `${w}x${h}`,
    quality: body.quality && QUALITIES.has(body.quality) ? body.quality : 'auto',
    background: 'opaque',
  };
  const partials = body.partial_images ?? 3;
  try {
    let index = 0;
    let ended = false;
    for await (const ev of events) {
      if (ev.type === 'progress' && ev.data.preview && index < partials) {
        sse.send(null, 'image_generation.partial_image', {
          type: 'image_generation.partial_image',
          b64_json: ev.data.preview.replace(/^data:image\/jpeg;base64,/, ''),
          partial_image_index: index++,
          created_at: Math.floor(Date.now() / 1000),
          ...common,
          output_format: 'jpeg',
        });
      }
      if (ev.type === 'completed') ended = true;
    }
    const final = ended ? ((await deps.jobs.get(record.id)) ?? record) : null;
    if (final?.status === 'succeeded' && final.image) {
      const bytes = await deps.storage.read(final.image.key);
      sse.send(null, 'image_generation.completed', {
        type: 'image_generation.completed',
        b64_json: bytes.toString('base64'),
        created_at: Math.floor(Date.now() / 1000),
        ...common,
        output_format: final.input.output_format,
      });
    } else if (final) {
      sse.send(null, 'error', openAIErrorBody(errorOf(final)));
    } else if (!res.destroyed) {
      sse.send(null, 'error', openAIErrorBody(timeoutError(record.id)));
    }
  } catch (err) {
    // Headers are sent: a failure (Redis, storage) ends the stream with an error event.
    sse.send(null, 'error', {
      error: {
        message: 'the stream failed; read the job at /v1/images/generations/' + record.id,
        type: 'server_error',
        param: null,
        code:
          err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : 'internal_error',
      },
    });
  } finally {
    clearTimeout(timer);
    deps.shutdown?.removeEventListener('abort', onShutdown);
    sse.end();
  }
}
