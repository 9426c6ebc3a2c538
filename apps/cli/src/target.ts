import { existsSync, readFileSync } from 'node:fs';

import { ImageGen, type RetryInfo } from '@imagegen/client';

import type { CliConfig } from './config.js';
import { dataDirHint, findStack } from './stack-file.js';
import { SetupError } from './usage.js';

export interface TargetFlags {
  'base-url'?: string | undefined;
  'api-key'?: string | undefined;
}

/** The options every command that talks to the service takes. */
export const TARGET_OPTIONS = {
  'base-url': { type: 'string' },
  'api-key': { type: 'string' },
} as const;

/**
 * Where the service is and which key to use: --base-url/--api-key, else IMAGEGEN_BASE_URL/IMAGEGEN_API_KEY,
 * else the running `npm start` stack of IMAGEGEN_DATA_DIR (its stack.json and api-key). The stack's key is
 * only sent to the stack's own URL. Throws a SetupError saying plainly what is missing.
 */
export function resolveTarget(flags: TargetFlags, config: CliConfig): { baseURL: string; apiKey: string } {
  const lookup = findStack(config.IMAGEGEN_DATA_DIR);
  const stack = lookup.found ? lookup.stack : undefined;
  const baseURL = (flags['base-url'] ?? config.IMAGEGEN_BASE_URL ?? stack?.baseUrl)?.replace(/\/+$/, '');
  if (!baseURL) {
    const why = lookup.found ? '' : `${lookup.why}. `;
    throw new SetupError(
      `no service to talk to: ${why}Start one with \`npm start\`, or pass --base-url (or set IMAGEGEN_BASE_URL)${dataDirHint(config.dataDirFromEnv)}`,
    );
  }
  let apiKey = flags['api-key'] ?? config.IMAGEGEN_API_KEY;
  if (!apiKey && stack && stack.baseUrl === baseURL) {
    if (stack.apiKeyFile === null) {
      throw new SetupError(
        'no API key: the running stack was started with IMAGEGEN_BOOTSTRAP_API_KEY; pass that key with --api-key or IMAGEGEN_API_KEY',
      );
    }
    if (existsSync(stack.apiKeyFile)) apiKey = readFileSync(stack.apiKeyFile, 'utf8').trim();
  }
  if (!apiKey) {
    throw new SetupError(
      `no API key for ${baseURL}: pass --api-key or set IMAGEGEN_API_KEY (\`imagegen keys create --name NAME\` makes one)`,
    );
  }
  return { baseURL, apiKey };
}

/** A client of the resolved service; retries are reported on stderr as they happen. */
export function clientFor(target: { baseURL: string; apiKey: string }): ImageGen {
  return new ImageGen({
    ...target,
    onRetry: (r: RetryInfo) =>
      process.stderr.write(
        `imagegen: ${r.error.code === 'connection_error' ? r.error.message : r.error.code}; retrying in ${(r.delayMs / 1000).toFixed(1)} s\n`,
      ),
  });
}
