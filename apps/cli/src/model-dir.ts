import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { UsageError } from './usage.js';

/** The bundled model shipped in packages/tiny-model (resolved from this file, so any cwd works). */
export const BUNDLED_MODEL_DIR = fileURLToPath(
  new URL('../../../packages/tiny-model/model/', import.meta.url),
);

export function defaultModelDir(): string {
  if (!existsSync(BUNDLED_MODEL_DIR)) {
    throw new UsageError(`the bundled model is missing (${BUNDLED_MODEL_DIR}); pass --model DIR`);
  }
  return BUNDLED_MODEL_DIR;
}
