import { z } from 'zod';

/** The seven output sizes of the vendor API. */
export const ASPECT_RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4', '21:9', '9:21'] as const;
export const OUTPUT_FORMATS = ['jpeg', 'png'] as const;
export const WEBHOOK_EVENTS = ['queued', 'started', 'progress', 'completed'] as const;

export const MAX_PROMPT_CHARS = 2000;
export const MAX_METADATA_BYTES = 4096;
/** How deep `metadata` may nest (objects and arrays, the metadata object itself counted as level 1). */
export const MAX_METADATA_DEPTH = 32;
export const MAX_SEED = 4294967295;

/**
 * Nesting depth of a JSON value (a scalar is 0, `{}` and `[]` are 1), counted without recursion so
 * that hostile input cannot overflow the stack; stops at `limit + 1`.
 */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [v, depth] = next;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, depth);
    if (max > limit) return max;
    for (const child of Object.values(v)) pending.push([child, depth + 1]);
  }
  return max;
}

/** `POST /v1/images/generations` body. Unknown fields are rejected (strict). */
export const CreateGenerationRequest = z.strictObject({
  prompt: z
    .string({ error: 'prompt must be a string' })
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .min(1, { error: 'prompt must not be empty' })
        .max(MAX_PROMPT_CHARS, { error: `prompt must be at most ${MAX_PROMPT_CHARS} characters` }),
    ),
  aspect_ratio: z
    .enum(ASPECT_RATIOS, { error: `aspect_ratio must be one of ${ASPECT_RATIOS.join(', ')}` })
    .default('16:9'),
  output_format: z.enum(OUTPUT_FORMATS, { error: 'output_format must be jpeg or png' }).default('jpeg'),
  seed: z
    .int({ error: `seed must be an integer between 0 and ${MAX_SEED}` })
    .min(0, { error: `seed must be an integer between 0 and ${MAX_SEED}` })
    .max(MAX_SEED, { error: `seed must be an integer between 0 and ${MAX_SEED}` })
    .optional(),
  prompt_upsampling: z.boolean({ error: 'prompt_upsampling must be true or false' }).default(false),
  safety_tolerance: z
    .int({ error: 'safety_tolerance must be an integer between 0 and 6' })
    .min(0, { error: 'safety_tolerance must be an integer between 0 and 6' })
    .max(6, { error: 'safety_tolerance must be an integer between 0 and 6' })
    .default(2),
  webhook_url: z
    .url({ protocol: /^https?$/, error: 'webhook_url must be an absolute http(s) URL' })
    .max(2048)
    .optional(),
  webhook_events: z
    .array(z.enum(WEBHOOK_EVENTS, { error: `webhook_events entries must be ${WEBHOOK_EVENTS.join(', ')}` }))
    .max(WEBHOOK_EVENTS.length)
    .optional(),
  metadata: z
    .record(z.string(), z.unknown(), { error: 'metadata must be a JSON object' })
    // Checked first and aborting: JSON.stringify recurses, so hostile nesting would overflow the stack.
    .refine((m) => jsonDepth(m, MAX_METADATA_DEPTH) <= MAX_METADATA_DEPTH, {
      error: `metadata must nest at most ${MAX_METADATA_DEPTH} levels deep`,
      abort: true,
    })
    .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, {
      error: `metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
    })
    .optional(),
});
export type CreateGenerationRequest = z.output<typeof CreateGenerationRequest>;

/** The normalized input echoed on every job (the seed is always set). */
export const JobInput = z.object({
  prompt: z.string(),
  aspect_ratio: z.enum(ASPECT_RATIOS),
  output_format: z.enum(OUTPUT_FORMATS),
  seed: z.int(),
  prompt_upsampling: z.boolean(),
  safety_tolerance: z.int(),
});
export type JobInput = z.infer<typeof JobInput>;

export const JOB_STATUSES = [
  'queued',
  'processing',
  'succeeded',
  'failed',
  'moderated',
  'canceled',
  'expired',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = [
  'succeeded',
  'failed',
  'moderated',
  'canceled',
  'expired',
];
export const JOB_STAGES = ['analyzing', 'generating', 'upscaling', 'safety_check', 'storing'] as const;
export type JobStage = (typeof JOB_STAGES)[number];

export const ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'idempotency_conflict',
  'content_policy_violation',
  'content_moderated',
  'rate_limited',
  'concurrency_limit_exceeded',
  'queue_full',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'service_unavailable',
  'generation_failed',
  'timeout',
  'internal_error',
  'method_not_allowed',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const JobError = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
});

export const JobOutput = z.object({
  url: z.string().nullable(),
  url_expires_at: z.string().nullable(),
  expired: z.boolean(),
  width: z.int(),
  height: z.int(),
  format: z.enum(OUTPUT_FORMATS),
  bytes: z.int(),
  revised_prompt: z.string().nullable(),
});

export const JobModeration = z.object({
  stage: z.enum(['input', 'output']),
  category: z.string().nullable(),
});

export const PromptWarning = z.object({ code: z.string(), message: z.string() });

export const JobWebhook = z.object({
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  status: z.enum(['pending', 'delivered', 'retrying', 'failed']),
  attempts: z.int(),
  last_error: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  delivered_at: z.string().nullable(),
});

/** The model that made a job's image: its name (a pulled model's `owner/name`) and commit, if known. */
export const JobModel = z.object({
  name: z.string(),
  /** The hub commit of a pulled model; null for a directory that was not pulled (the bundled model). */
  revision: z.string().nullable(),
});
export type JobModel = z.infer<typeof JobModel>;

/** The job object every read returns; the last five fields are exactly the vendor response. */
export const Job = z.object({
  id: z.string(),
  object: z.literal('image.generation'),
  status: z.enum(JOB_STATUSES),
  stage: z.enum(JOB_STAGES).nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  queue_position: z.int().nullable(),
  progress: z.number(),
  attempt: z.int(),
  input: JobInput,
  output: JobOutput.nullable(),
  error: JobError.nullable(),
  /** Set on moderated jobs: which check refused it and the policy category (never the matched words). */
  moderation: JobModeration.nullable(),
  /** The prompt split into the vendor's template parts (subject, action, setting, style, …). */
  analysis: z.record(z.string(), z.unknown()).nullable(),
  /** Prompt-writing advice; never blocks a request. */
  warnings: z.array(PromptWarning),
  /** The webhook and its delivery log, when the request gave a webhook_url. */
  webhook: JobWebhook.nullable(),
  metadata: z.record(z.string(), z.unknown()),
  timings_ms: z.record(z.string(), z.number()),
  /** The model that made the image, once a worker has run the job to an image (succeeded or moderated). */
  model: JobModel.nullable(),
  /**
   * True when the image is a server-side copy of an identical earlier request's result (same key, explicit
   * seed, same model and parameters) instead of a new generation; the copy has its own one-hour life.
   */
  cached: z.boolean(),
  success: z.boolean().nullable(),
  request_id: z.string(),
  image_url: z.string().nullable(),
  seed: z.int(),
  revised_prompt: z.string().nullable(),
});
export type Job = z.infer<typeof Job>;

export const ErrorResponse = z.object({
  success: z.literal(false),
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    param: z.string().optional(),
    /** For content_policy_violation: the policy category (violence, adult, hate, illegal, harmful). */
    category: z.string().optional(),
    /** For invalid_request: every problem found, each with the field it is about. */
    details: z.array(z.object({ param: z.string(), message: z.string() })).optional(),
  }),
  request_id: z.string(),
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

/** `GET /v1/images/generations` query: the key's jobs, newest first. */
export const ListGenerationsQuery = z.strictObject({
  limit: z.coerce
    .number({ error: 'limit must be a whole number between 1 and 100' })
    .int({ error: 'limit must be a whole number between 1 and 100' })
    .min(1, { error: 'limit must be a whole number between 1 and 100' })
    .max(100, { error: 'limit must be a whole number between 1 and 100' })
    .default(20),
  /** One or more statuses, comma-separated. */
  status: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(
      z.array(
        z.enum(JOB_STATUSES, {
          error: `status must be one or more of ${JOB_STATUSES.join(', ')}, comma-separated`,
        }),
      ),
    )
    .optional(),
  /** Opaque, from a previous page's `next_cursor`. */
  cursor: z.string().max(200).optional(),
});
export type ListGenerationsQuery = z.output<typeof ListGenerationsQuery>;

export const ListGenerationsResponse = z.object({
  object: z.literal('list'),
  data: z.array(Job),
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: z.string().nullable(),
});
export type ListGenerationsResponse = z.infer<typeof ListGenerationsResponse>;

/** `POST /v1/prompts/analyze` body: a prompt checked as a submit would check it, nothing queued. */
export const AnalyzePromptRequest = z.strictObject({
  prompt: CreateGenerationRequest.shape.prompt,
  safety_tolerance: CreateGenerationRequest.shape.safety_tolerance,
});
export type AnalyzePromptRequest = z.output<typeof AnalyzePromptRequest>;

export const AnalyzePromptResponse = z.object({
  object: z.literal('prompt.analysis'),
  /** The prompt split into the vendor's template parts (subject, action, setting, style, …). */
  analysis: z.record(z.string(), z.unknown()),
  /** Prompt-writing advice (never blocks), including `outside_model_domain`. */
  warnings: z.array(PromptWarning),
  /** What a submit at this tolerance would do with the prompt. */
  moderation: z.object({
    allowed: z.boolean(),
    /** The policy category when refused (violence, adult, hate, illegal, harmful). */
    category: z.string().nullable(),
    safety_tolerance: z.int(),
  }),
});
export type AnalyzePromptResponse = z.infer<typeof AnalyzePromptResponse>;
