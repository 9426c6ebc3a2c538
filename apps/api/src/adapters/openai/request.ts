import { z } from 'zod';

import { CreateGenerationRequest, MAX_SEED } from '@imagegen/contracts';

import { invalidRequest } from '../../services/errors.js';
import { nearestAspectRatio, type AspectRatio } from '../aspect.js';

/** Sizes are `WIDTHxHEIGHT` (any, mapped to the nearest aspect ratio) or `auto` (1:1). */
const SIZE = /^([1-9]\d{0,4})x([1-9]\d{0,4})$/;

const oneOf = (field: string, values: readonly string[], why = '') =>
  `${field} must be ${values.slice(0, -1).join(', ')}${values.length > 1 ? ' or ' : ''}${values.at(-1)}${why}`;

/**
 * `POST /openai/v1/images/generations` as OpenAI's Images API defines it (only `prompt` is required),
 * plus two fields of ours: `seed` (the first image's; image i gets seed + i) and `prompt_upsampling`.
 * Unknown fields are refused, as OpenAI does.
 */
export const OpenAIImageRequest = z.strictObject({
  prompt: CreateGenerationRequest.shape.prompt,
  /** Any model name is accepted; `GET /openai/v1/models` lists what this server runs. */
  model: z.string({ error: 'model must be a string' }).max(256).nullish(),
  n: z
    .int({ error: 'n must be an integer between 1 and 10' })
    .min(1, { error: 'n must be an integer between 1 and 10' })
    .max(10, { error: 'n must be an integer between 1 and 10' })
    .nullish(),
  size: z
    .string({ error: 'size must be a string such as 1024x1024' })
    .refine((s) => s === 'auto' || SIZE.test(s), {
      error: 'size must be auto or WIDTHxHEIGHT in pixels, such as 1024x1024 or 1920x1080',
    })
    .nullish(),
  response_format: z
    .enum(['url', 'b64_json'], { error: oneOf('response_format', ['url', 'b64_json']) })
    .nullish(),
  output_format: z
    .enum(['png', 'jpeg'], {
      error: oneOf(
        'output_format',
        ['png', 'jpeg'],
        ' (webp is not offered: this server encodes PNG and JPEG)',
      ),
    })
    .nullish(),
  /** Accepted and not applied: JPEG quality is the server's. */
  output_compression: z
    .int({ error: 'output_compression must be an integer between 0 and 100' })
    .min(0, { error: 'output_compression must be an integer between 0 and 100' })
    .max(100, { error: 'output_compression must be an integer between 0 and 100' })
    .nullish(),
  background: z
    .enum(['auto', 'opaque'], {
      error: oneOf(
        'background',
        ['auto', 'opaque'],
        ' (transparent is not offered: the model draws opaque images)',
      ),
    })
    .nullish(),
  moderation: z.enum(['low', 'auto'], { error: oneOf('moderation', ['low', 'auto']) }).nullish(),
  quality: z
    .enum(['auto', 'standard', 'hd', 'low', 'medium', 'high'], {
      error: oneOf('quality', ['auto', 'standard', 'hd', 'low', 'medium', 'high']),
    })
    .nullish(),
  style: z.enum(['vivid', 'natural'], { error: oneOf('style', ['vivid', 'natural']) }).nullish(),
  user: z
    .string({ error: 'user must be a string' })
    .max(256, { error: 'user must be at most 256 characters' })
    .nullish(),
  stream: z.boolean({ error: 'stream must be true or false' }).nullish(),
  partial_images: z
    .int({ error: 'partial_images must be an integer between 0 and 3' })
    .min(0, { error: 'partial_images must be an integer between 0 and 3' })
    .max(3, { error: 'partial_images must be an integer between 0 and 3' })
    .nullish(),
  seed: CreateGenerationRequest.shape.seed.nullish(),
  prompt_upsampling: z.boolean({ error: 'prompt_upsampling must be true or false' }).nullish(),
});
export type OpenAIImageRequest = z.output<typeof OpenAIImageRequest>;

/** The aspect ratio a `size` asks for: `auto` and no size are 1:1, WxH the nearest of the seven. */
export function aspectRatioOfSize(size: string | null | undefined): AspectRatio {
  const m = size ? SIZE.exec(size) : null;
  return m ? nearestAspectRatio(Number(m[1]), Number(m[2])) : '1:1';
}

/** The parsed request, or 400 `invalid_request` naming the first bad field (every problem in `details`). */
export function parseOpenAIRequest(body: unknown): OpenAIImageRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest('the body must be a JSON object');
  }
  const parsed = OpenAIImageRequest.safeParse(body);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((k) => ({
          param: k,
          message: `Unrecognized request argument supplied: ${k} (this server's Images API does not take it; remove it)`,
        }))
      : [{ param: issue.path.join('.'), message: issue.message }],
  );
  const head = details[0]!;
  throw invalidRequest(head.message, head.param || undefined, details);
}

/**
 * The native submit bodies of one OpenAI request: n jobs with seeds s, s+1, … (mod 2^32), the nearest
 * aspect ratio, PNG unless JPEG is asked, tolerance 4 for `moderation: low` and 2 otherwise.
 */
export function nativeBodies(req: OpenAIImageRequest, firstSeed: number): Record<string, unknown>[] {
  const n = req.n ?? 1;
  return Array.from({ length: n }, (_, i) => ({
    prompt: req.prompt,
    aspect_ratio: aspectRatioOfSize(req.size),
    output_format: req.output_format ?? 'png',
    seed: (firstSeed + i) % (MAX_SEED + 1),
    prompt_upsampling: req.prompt_upsampling ?? false,
    safety_tolerance: req.moderation === 'low' ? 4 : 2,
    metadata: { adapter: 'openai', ...(req.user ? { user: req.user } : {}), ...(n > 1 ? { index: i } : {}) },
  }));
}
