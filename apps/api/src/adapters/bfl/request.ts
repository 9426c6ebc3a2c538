import { z } from 'zod';

import { MAX_PROMPT_CHARS, MAX_SEED } from '@imagegen/contracts';

import { nearestAspectRatio, type AspectRatio } from '../aspect.js';

const RATIO = /^([1-9]\d{0,4}):([1-9]\d{0,4})$/;
const intIn = (field: string, min: number, max: number) =>
  z
    .int({ error: `${field} must be an integer between ${min} and ${max}` })
    .min(min, { error: `${field} must be an integer between ${min} and ${max}` })
    .max(max, { error: `${field} must be an integer between ${min} and ${max}` });

/** Image inputs of BFL's other models (Redux, Kontext, Fill, FLUX.2 editing): not offered here. */
const IMAGE_INPUT = /^(image_prompt|input_image(_\d+)?|image|mask|control_image)$/;

/**
 * A BFL submit body (`POST /bfl/v1/{model}`): FLUX1.1 [pro] Ultra's fields, which are the vendor's,
 * plus the `width`/`height` of BFL's other models. Like BFL's API (pydantic), fields it does not know are
 * ignored, except image inputs, which are refused rather than silently dropped.
 */
export const BflRequest = z.object({
  prompt: z
    .string({ error: 'prompt must be a string' })
    .default('')
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .min(1, { error: 'prompt must not be empty: describe the image' })
        .max(MAX_PROMPT_CHARS, { error: `prompt must be at most ${MAX_PROMPT_CHARS} characters` }),
    ),
  prompt_upsampling: z.boolean({ error: 'prompt_upsampling must be true or false' }).nullish(),
  seed: intIn('seed', 0, MAX_SEED).nullish(),
  aspect_ratio: z
    .string({ error: 'aspect_ratio must be a string such as 16:9' })
    .regex(RATIO, { error: 'aspect_ratio must be W:H, such as 16:9 (between 21:9 and 9:21)' })
    .nullish(),
  width: intIn('width', 64, 8192).nullish(),
  height: intIn('height', 64, 8192).nullish(),
  safety_tolerance: intIn('safety_tolerance', 0, 6).nullish(),
  output_format: z
    .enum(['jpeg', 'png'], {
      error: 'output_format must be jpeg or png (webp is not offered: this server encodes JPEG and PNG)',
    })
    .nullish(),
  webhook_url: z
    .url({ protocol: /^https?$/, error: 'webhook_url must be an absolute http(s) URL' })
    .max(2048, { error: 'webhook_url must be at most 2048 characters' })
    .nullish(),
  webhook_secret: z
    .string({ error: 'webhook_secret must be a string' })
    .min(1, { error: 'webhook_secret must not be empty' })
    .max(256, { error: 'webhook_secret must be at most 256 characters' })
    .nullish(),
});
export type BflRequest = z.output<typeof BflRequest>;

/** One problem, as FastAPI reports it in `detail`. */
export interface BflValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A 422 whose answer is FastAPI's `{detail: [{loc, msg, type}]}`. */
export class BflValidationError extends Error {
  override name = 'BflValidationError';
  constructor(readonly issues: BflValidationIssue[]) {
    super(issues[0]?.msg ?? 'invalid request');
  }
}

/** The aspect ratio a request asks for: `aspect_ratio` (nearest of the seven), else width:height, else 16:9. */
function aspectRatioOf(body: BflRequest): AspectRatio {
  const m = body.aspect_ratio ? RATIO.exec(body.aspect_ratio) : null;
  if (m) return nearestAspectRatio(Number(m[1]), Number(m[2]));
  if (body.width && body.height) return nearestAspectRatio(body.width, body.height);
  return '16:9';
}

/** The parsed body, or a BflValidationError listing every problem. */
export function parseBflRequest(raw: unknown): BflRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new BflValidationError([
      { loc: ['body'], msg: 'the body must be a JSON object', type: 'model_attributes_type' },
    ]);
  }
  const issues: BflValidationIssue[] = [];
  for (const [k, v] of Object.entries(raw)) {
    if (IMAGE_INPUT.test(k) && v !== null && v !== undefined && v !== '') {
      issues.push({
        loc: ['body', k],
        msg: `${k} is not offered: this server generates from text only; remove it`,
        type: 'value_error',
      });
    }
  }
  const parsed = BflRequest.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({
        loc: ['body', ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))],
        msg: issue.message,
        type: 'value_error',
      });
    }
  }
  // Across fields, on the body as sent (whether or not each field was valid).
  const fields = raw as Record<string, unknown>;
  const has = (k: string) => fields[k] !== null && fields[k] !== undefined;
  if (has('width') !== has('height')) {
    issues.push({
      loc: ['body', has('width') ? 'height' : 'width'],
      msg: 'give width and height together',
      type: 'missing',
    });
  }
  if (has('aspect_ratio') && (has('width') || has('height'))) {
    issues.push({
      loc: ['body', 'aspect_ratio'],
      msg: 'give aspect_ratio or width and height, not both',
      type: 'value_error',
    });
  }
  if (has('webhook_secret') && !has('webhook_url')) {
    issues.push({
      loc: ['body', 'webhook_secret'],
      msg: 'webhook_secret needs webhook_url',
      type: 'value_error',
    });
  }
  const body = parsed.data;
  if (issues.length > 0 || !body) throw new BflValidationError(issues);
  return body;
}

/** The native submit body of a BFL request. */
export function nativeBody(body: BflRequest, model: string): Record<string, unknown> {
  return {
    prompt: body.prompt,
    aspect_ratio: aspectRatioOf(body),
    output_format: body.output_format ?? 'jpeg',
    ...(body.seed === null || body.seed === undefined ? {} : { seed: body.seed }),
    prompt_upsampling: body.prompt_upsampling ?? false,
    safety_tolerance: body.safety_tolerance ?? 2,
    ...(body.webhook_url ? { webhook_url: body.webhook_url } : {}),
    metadata: { adapter: 'bfl', model },
  };
}

/** `GET /bfl/v1/get_result`'s `id`, or a BflValidationError as FastAPI reports a missing query field. */
export function resultId(query: unknown): string {
  const id = (query as Record<string, unknown>)['id'];
  if (typeof id !== 'string' || id === '') {
    throw new BflValidationError([{ loc: ['query', 'id'], msg: 'Field required', type: 'missing' }]);
  }
  return id;
}
