import type { z } from 'zod';

import { promptLengthRefusal } from '@imagegen/prompt';

import { invalidRequest } from './errors.js';

/**
 * A zod failure as the API's 400: the first problem as `message`/`param` (an unknown field is named with
 * how to fix it), every problem in `details`.
 */
export function validationError(error: z.ZodError, options: { topLevelParams?: boolean } = {}) {
  // Query parameters are named as sent (`status`), not by their parsed element (`status.0`).
  const name = (path: PropertyKey[]) => (options.topLevelParams ? String(path[0] ?? '') : path.join('.'));
  const details = error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((k) => ({ param: k, message: unknownField(k) }))
      : [{ param: name(issue.path), message: issue.message }],
  );
  const first = error.issues[0]!;
  if (first.path.length === 0 && first.code !== 'unrecognized_keys') {
    return invalidRequest('the body must be a JSON object');
  }
  const head = details[0]!;
  return invalidRequest(head.message, head.param || undefined, details);
}

const unknownField = (k: string) =>
  `unknown field "${k}": remove it (fields are documented at /openapi.json)`;

/**
 * 400 `invalid_request` for a prompt that Unicode normalization (NFKC) expands past the moderation bound
 * (MAX_NORMALIZED_CHARS), checked before anything reads it further.
 */
export function checkPromptLength(prompt: string): void {
  const why = promptLengthRefusal(prompt);
  if (why) throw invalidRequest(why, 'prompt');
}
