import { moderatePrompts, type ModerationCategory, type ModerationResult } from './moderation.js';

/**
 * A second opinion from a moderation model behind an OpenAI-compatible `POST /moderations` endpoint
 * (OpenAI's own, or any server speaking its format), on top of the word lists. The word lists decide
 * first and cost nothing; the model is asked only about prompts they allow, and a prompt is refused when
 * either refuses. When the endpoint fails or times out, the word lists' verdict stands (fail open) and the
 * failure is reported, so an outage of the model never stops the service.
 */
export interface ClassifierConfig {
  /** API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 (`/moderations` is appended). */
  baseUrl: string;
  model?: string;
  apiKey?: string;
  timeoutMs?: number;
}

export interface ModerationVerdict extends ModerationResult {
  /** Which check decided: the word lists, or the moderation model. */
  source: 'lexicon' | 'classifier';
  /** Set when the model was asked but did not answer usably (its verdict is then missing). */
  classifier_error?: string;
}

export interface PromptModerator {
  /** Moderates the texts together (a prompt and its revision): the first refusal wins. Never rejects. */
  moderate(texts: readonly string[], tolerance: number): Promise<ModerationVerdict>;
}

export const DEFAULT_CLASSIFIER_MODEL = 'omni-moderation-latest';
export const DEFAULT_CLASSIFIER_TIMEOUT_MS = 3000;

/** The endpoint's categories (OpenAI's moderation taxonomy) mapped onto ours. */
export const CLASSIFIER_CATEGORIES: Readonly<Record<string, ModerationCategory>> = {
  sexual: 'adult',
  'sexual/minors': 'illegal',
  hate: 'hate',
  'hate/threatening': 'hate',
  harassment: 'hate',
  'harassment/threatening': 'hate',
  violence: 'violence',
  'violence/graphic': 'violence',
  'self-harm': 'harmful',
  'self-harm/intent': 'harmful',
  'self-harm/instructions': 'harmful',
  illicit: 'illegal',
  'illicit/violent': 'illegal',
};

/**
 * Score at or above which a category refuses, by tolerance 0–6: the default tolerance 2 sits at 0.5,
 * about where such models set their own `flagged`. Illegal categories refuse from 0.5 at every tolerance.
 */
export const CLASSIFIER_THRESHOLDS: readonly number[] = [0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97];
const ILLEGAL_THRESHOLD = 0.5;

const lexiconOnly: PromptModerator = {
  moderate: (texts, tolerance) =>
    Promise.resolve({ ...moderatePrompts(texts, tolerance), source: 'lexicon' }),
};

/** The verdict of one endpoint answer (`results[]`, one per input text) at a tolerance. */
export function classifierVerdict(body: unknown, tolerance: number): ModerationResult {
  const results = (body as { results?: unknown } | null)?.results;
  if (!Array.isArray(results) || results.length === 0) throw new Error('invalid_response');
  const t = Math.min(6, Math.max(0, Math.trunc(Number.isFinite(tolerance) ? tolerance : 0)));
  let worst: { category: ModerationCategory; score: number; over: number } | null = null;
  for (const result of results) {
    const scores = (result as { category_scores?: unknown } | null)?.category_scores;
    if (!scores || typeof scores !== 'object') throw new Error('invalid_response');
    for (const [name, value] of Object.entries(scores as Record<string, unknown>)) {
      const category = CLASSIFIER_CATEGORIES[name];
      if (category === undefined || typeof value !== 'number' || !Number.isFinite(value)) continue;
      const threshold = category === 'illegal' ? ILLEGAL_THRESHOLD : CLASSIFIER_THRESHOLDS[t]!;
      const over = value - threshold;
      if (over >= 0 && (worst === null || over > worst.over)) worst = { category, score: value, over };
    }
  }
  if (worst === null) return { allowed: true, category: null, severity: null };
  return {
    allowed: false,
    category: worst.category,
    severity: worst.category === 'illegal' ? 'illegal' : t + 1,
  };
}

export function createModerator(config: ClassifierConfig | null): PromptModerator {
  if (config === null) return lexiconOnly;
  if (!/^https?:\/\//.test(config.baseUrl))
    throw new TypeError('the moderation baseUrl must be an http(s) URL');
  const url = `${config.baseUrl.replace(/\/+$/, '')}/moderations`;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (config.apiKey) headers['authorization'] = `Bearer ${config.apiKey}`;
  const model = config.model ?? DEFAULT_CLASSIFIER_MODEL;
  const timeoutMs = config.timeoutMs ?? DEFAULT_CLASSIFIER_TIMEOUT_MS;
  return {
    async moderate(texts, tolerance) {
      const lexical = moderatePrompts(texts, tolerance);
      if (!lexical.allowed) return { ...lexical, source: 'lexicon' };
      let body: unknown;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers,
          signal: AbortSignal.timeout(timeoutMs),
          body: JSON.stringify({ model, input: [...texts] }),
        });
        const text = await response.text();
        if (!response.ok)
          return { ...lexical, source: 'lexicon', classifier_error: `http_${response.status}` };
        body = JSON.parse(text);
      } catch (err) {
        const name = (err as { name?: unknown } | null)?.name;
        const reason =
          name === 'TimeoutError' || name === 'AbortError'
            ? 'timeout'
            : err instanceof SyntaxError
              ? 'invalid_json'
              : 'network_error';
        return { ...lexical, source: 'lexicon', classifier_error: reason };
      }
      try {
        const verdict = classifierVerdict(body, tolerance);
        return verdict.allowed ? { ...lexical, source: 'lexicon' } : { ...verdict, source: 'classifier' };
      } catch {
        return { ...lexical, source: 'lexicon', classifier_error: 'invalid_response' };
      }
    },
  };
}
