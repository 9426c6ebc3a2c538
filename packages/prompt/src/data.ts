import { readFileSync } from 'node:fs';

/** A data file under packages/prompt/data/ (or corpora/) is missing or has the wrong shape. */
export class PromptDataError extends Error {
  override readonly name = 'PromptDataError';
}

/**
 * Reads a JSON file by its path from the package root. Both src/ (tests, tsx) and dist/ (built code)
 * sit one level below the root, so the same relative URL works from either.
 */
export function readPackageJson(relativePath: string): unknown {
  const url = new URL(`../${relativePath}`, import.meta.url);
  try {
    return JSON.parse(readFileSync(url, 'utf8')) as unknown;
  } catch (err) {
    throw new PromptDataError(`cannot read ${relativePath}: ${(err as Error).message}`);
  }
}

export function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PromptDataError(`${where} must be a JSON object`);
  return value as Record<string, unknown>;
}

export function asStringArray(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string'))
    throw new PromptDataError(`${where} must be an array of strings`);
  return value;
}

export function asString(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new PromptDataError(`${where} must be a string`);
  return value;
}
