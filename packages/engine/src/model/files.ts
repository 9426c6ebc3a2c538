import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { EngineError } from '../errors.js';

/** Throws `model_not_found` naming `rel` when `dir/rel` is not a readable file. */
export function requireFile(dir: string, rel: string, what: string): string {
  const path = join(dir, rel);
  let ok = false;
  try {
    ok = statSync(path).isFile();
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new EngineError('model_not_found', `${rel} is missing from the model directory ${dir} (${what})`, {
      file: rel,
    });
  }
  return path;
}

export function fileExists(dir: string, rel: string): boolean {
  try {
    return statSync(join(dir, rel)).isFile();
  } catch {
    return false;
  }
}

/** Reads and parses a JSON file of the model directory, with errors naming the file. */
export function readJson(dir: string, rel: string, what: string): unknown {
  const path = requireFile(dir, rel, what);
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new EngineError('model_invalid', `${rel} is not valid JSON: ${(e as Error).message}`, {
      file: rel,
      cause: e,
    });
  }
}

/** Like readJson, but returns undefined when the file does not exist. */
export function readOptionalJson(dir: string, rel: string, what: string): unknown {
  return fileExists(dir, rel) ? readJson(dir, rel, what) : undefined;
}

export function asObject(value: unknown, rel: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EngineError('model_invalid', `${rel} must hold a JSON object`, { file: rel });
  }
  return value as Record<string, unknown>;
}
