import { promptLengthRefusal } from './normalize.js';
import { MAX_PROMPT_CHARS, upsamplePrompt } from './upsample.js';

/** Which upsampler to use; `llm` needs `baseUrl` and `model`. */
export interface UpsamplerConfig {
  kind: 'rules' | 'llm';
  /** OpenAI-compatible API root, e.g. http://127.0.0.1:8080/v1 (`/chat/completions` is appended). */
  baseUrl?: string;
  model?: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Whole-request deadline in milliseconds; default DEFAULT_UPSAMPLER_TIMEOUT_MS. */
  timeoutMs?: number;
}

export interface UpsampleResult {
  prompt: string;
  source: 'rules' | 'llm';
  /** Why the LLM answer was not used (`timeout`, `network_error`, `http_503`, `invalid_json`, …). */
  fallback_reason?: string;
}

export interface Upsampler {
  /** Never rejects: every LLM failure falls back to the rule engine. */
  upsample(prompt: string, seed: number): Promise<UpsampleResult>;
}

export const DEFAULT_UPSAMPLER_TIMEOUT_MS = 10_000;
/** Room for a rewritten prompt of a few hundred characters. */
const MAX_TOKENS = 300;

/** Our instructions to the model; kept short so small local models follow them. */
export const UPSAMPLER_INSTRUCTIONS = [
  'You improve prompts for a text-to-image model.',
  'Rewrite the prompt the user sends as one line that keeps every subject, action, place and style it asks for, in its order,',
  'and adds concrete visual detail where it is missing: what the subject looks like, the setting, lighting, composition,',
  'a medium or art style consistent with the prompt, and quality terms.',
  'Do not add new main subjects, text, logos or watermarks, and do not use negative phrasing.',
  'Stay under 400 characters. Reply with the rewritten prompt only, without quotes or commentary.',
].join(' ');

class UpsamplerFailure extends Error {
  override readonly name = 'UpsamplerFailure';
  constructor(readonly reason: string) {
    super(reason);
  }
}

const QUOTE_PAIRS: Record<string, string> = { '"': '"', "'": "'", '“': '”', '‘': '’', '`': '`', '«': '»' };

/** Trims the answer and removes one pair of quotes around all of it. */
export function cleanCompletion(content: string): string {
  let text = content.trim();
  const close = QUOTE_PAIRS[text.charAt(0)];
  if (close !== undefined && text.length >= 2 && text.endsWith(close)) text = text.slice(1, -1).trim();
  return text;
}

function completionText(body: unknown): string {
  const choices = (body as { choices?: unknown } | null)?.choices;
  const first: unknown = Array.isArray(choices) ? choices[0] : undefined;
  const content = (first as { message?: { content?: unknown } } | undefined)?.message?.content;
  if (typeof content !== 'string') throw new UpsamplerFailure('invalid_response');
  const text = cleanCompletion(content);
  if (text.length === 0) throw new UpsamplerFailure('empty_content');
  // Also bounded after NFKC: the revision is moderated, whose cost follows the normalized length.
  if (text.length > MAX_PROMPT_CHARS || promptLengthRefusal(text) !== null) {
    throw new UpsamplerFailure('content_too_long');
  }
  return text;
}

function failureReason(err: unknown): string {
  if (err instanceof UpsamplerFailure) return err.reason;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  return 'network_error';
}

function llmUpsampler(
  config: Required<Pick<UpsamplerConfig, 'baseUrl' | 'model' | 'timeoutMs'>> & UpsamplerConfig,
) {
  const url = `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;

  async function ask(prompt: string, seed: number): Promise<string> {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      signal: AbortSignal.timeout(config.timeoutMs),
      body: JSON.stringify({
        model: config.model,
        messages: [
          { role: 'system', content: UPSAMPLER_INSTRUCTIONS },
          { role: 'user', content: prompt },
        ],
        temperature: 0,
        seed,
        max_tokens: MAX_TOKENS,
      }),
    });
    const text = await response.text();
    if (!response.ok) throw new UpsamplerFailure(`http_${response.status}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new UpsamplerFailure('invalid_json');
    }
    return completionText(body);
  }

  return {
    async upsample(prompt: string, seed: number): Promise<UpsampleResult> {
      try {
        return { prompt: await ask(prompt, seed), source: 'llm' };
      } catch (err) {
        return { prompt: upsamplePrompt(prompt, seed), source: 'rules', fallback_reason: failureReason(err) };
      }
    },
  };
}

/**
 * The upsampler for a configuration. `rules` runs the rule engine; `llm` asks an OpenAI-compatible
 * chat endpoint (POST `${baseUrl}/chat/completions`, temperature 0 and the job's seed) and falls back
 * to the rule engine on any failure, reporting why. Throws a TypeError when `llm` lacks baseUrl or
 * model, so a misconfiguration fails at startup instead of silently degrading every job.
 */
export function createUpsampler(config: UpsamplerConfig): Upsampler {
  if (config.kind === 'rules')
    return {
      upsample: (prompt, seed) => Promise.resolve({ prompt: upsamplePrompt(prompt, seed), source: 'rules' }),
    };
  const problems: string[] = [];
  if (!config.baseUrl) problems.push('baseUrl is required');
  else if (!/^https?:\/\//.test(config.baseUrl)) problems.push('baseUrl must be an http(s) URL');
  if (!config.model) problems.push('model is required');
  const timeoutMs = config.timeoutMs ?? DEFAULT_UPSAMPLER_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) problems.push('timeoutMs must be a positive integer');
  if (problems.length > 0 || !config.baseUrl || !config.model)
    throw new TypeError(`invalid llm upsampler config: ${problems.join('; ')}`);
  return llmUpsampler({ ...config, baseUrl: config.baseUrl, model: config.model, timeoutMs });
}
