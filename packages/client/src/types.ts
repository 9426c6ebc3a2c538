/**
 * The wire types of the imagegen API (README "HTTP API"), written out by hand so that this package has no
 * runtime dependency; test/client/types.test.ts holds them equal to the service's zod schemas.
 */

/** The seven output sizes (1:1 1024×1024, 16:9 1920×1080 (default), 9:16, 4:3, 3:4, 21:9, 9:21). */
export const ASPECT_RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4', '21:9', '9:21'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];
export type OutputFormat = 'jpeg' | 'png';
export type WebhookEvent = 'queued' | 'started' | 'progress' | 'completed';
export type JobStatus =
  'queued' | 'processing' | 'succeeded' | 'failed' | 'moderated' | 'canceled' | 'expired';
export type TerminalStatus = Exclude<JobStatus, 'queued' | 'processing'>;
export type JobStage = 'analyzing' | 'generating' | 'upscaling' | 'safety_check' | 'storing';

export const TERMINAL_STATUSES: readonly TerminalStatus[] = [
  'succeeded',
  'failed',
  'moderated',
  'canceled',
  'expired',
];

export function isTerminal(status: JobStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** `POST /v1/images/generations` body; only `prompt` is required. */
export interface GenerateParams {
  /** 1–2000 characters after trimming. */
  prompt: string;
  /** Default `16:9` (1920×1080). */
  aspect_ratio?: AspectRatio;
  /** Default `jpeg`. */
  output_format?: OutputFormat;
  /** 0–4294967295; random when omitted, and always returned. */
  seed?: number;
  /** Default false; when true the job returns `revised_prompt`. */
  prompt_upsampling?: boolean;
  /** 0 (strictest) – 6, default 2. */
  safety_tolerance?: number;
  /** Where signed webhook deliveries go (https, or an allow-listed host). */
  webhook_url?: string;
  /** Default `["completed"]`. */
  webhook_events?: WebhookEvent[];
  /** A JSON object ≤ 4 KiB, echoed back untouched. */
  metadata?: Record<string, unknown>;
}

export interface JobInput {
  prompt: string;
  aspect_ratio: AspectRatio;
  output_format: OutputFormat;
  seed: number;
  prompt_upsampling: boolean;
  safety_tolerance: number;
}

export interface JobOutput {
  /** Presigned, valid until `url_expires_at` (one hour after completion); null once expired. */
  url: string | null;
  url_expires_at: string | null;
  expired: boolean;
  width: number;
  height: number;
  format: OutputFormat;
  bytes: number;
  revised_prompt: string | null;
}

export interface JobErrorInfo {
  code: string;
  message: string;
  retryable: boolean;
}

export interface PromptWarning {
  code: string;
  message: string;
}

export interface JobWebhook {
  url: string;
  events: WebhookEvent[];
  status: 'pending' | 'delivered' | 'retrying' | 'failed';
  attempts: number;
  last_error: string | null;
  last_attempt_at: string | null;
  delivered_at: string | null;
}

/** The job object every read returns; its last five fields are exactly the vendor's response. */
export interface Job {
  id: string;
  object: 'image.generation';
  status: JobStatus;
  stage: JobStage | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** 1 for the next job to run; null unless queued. */
  queue_position: number | null;
  /** 0–1. */
  progress: number;
  attempt: number;
  input: JobInput;
  output: JobOutput | null;
  error: JobErrorInfo | null;
  moderation: { stage: 'input' | 'output'; category: string | null } | null;
  analysis: Record<string, unknown> | null;
  warnings: PromptWarning[];
  webhook: JobWebhook | null;
  metadata: Record<string, unknown>;
  timings_ms: Record<string, number>;
  /** The model that made the image (`name`, and the hub commit of a pulled model), once there is one. */
  model: { name: string; revision: string | null } | null;
  /**
   * True when the image is a copy of an identical earlier request's result (same key, explicit seed, same
   * model and parameters): no new generation ran. Send `cache: false` to opt out.
   */
  cached: boolean;
  success: boolean | null;
  request_id: string;
  image_url: string | null;
  seed: number;
  revised_prompt: string | null;
}

/** What `generateImage` resolves to: the vendor's response fields, plus the whole job. */
export interface GenerateImageResult {
  image_url: string;
  seed: number;
  request_id: string;
  revised_prompt: string | null;
  job: Job;
}

/** The `data` of each server-sent event, by event name; `completed` carries the whole job. */
export interface JobEventDataMap {
  queued: { queue_position: number | null };
  started: { attempt: number };
  progress: {
    stage: JobStage;
    step: number | null;
    total: number | null;
    progress: number;
    /** Only with `events(id, { previews: true })`: a small JPEG `data:image/jpeg;base64,…` URL. */
    preview?: string;
  };
  completed: Job;
}

/** One event of `GET /v1/images/generations/{id}/events`. */
export type JobEvent = {
  [K in keyof JobEventDataMap]: { id: string; type: K; data: JobEventDataMap[K] };
}[keyof JobEventDataMap];

/** `GET /v1/images/generations` query. */
export interface ListParams {
  /** Page size, 1–100 (default 20). */
  limit?: number;
  /** Only jobs in these statuses. */
  status?: JobStatus | JobStatus[];
  /** From a previous page's `next_cursor`. */
  cursor?: string;
}

export interface ListPage {
  object: 'list';
  /** Newest first. */
  data: Job[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** `POST /v1/prompts/analyze` body. */
export interface AnalyzeParams {
  prompt: string;
  safety_tolerance?: number;
}

export interface PromptAnalysis {
  object: 'prompt.analysis';
  /** The prompt split into the vendor's template parts (subject, action, setting, style, …). */
  analysis: Record<string, unknown>;
  /** Prompt-writing advice (never blocks), including `outside_model_domain`. */
  warnings: PromptWarning[];
  /** What a submit at this tolerance would do with the prompt. */
  moderation: { allowed: boolean; category: string | null; safety_tolerance: number };
}

/** The error envelope of every non-2xx answer. */
export interface ErrorBody {
  success: false;
  error: {
    code: string;
    message: string;
    param?: string;
    category?: string;
    details?: { param: string; message: string }[];
  };
  request_id: string;
}
