import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a running `npm start` writes to `<IMAGEGEN_DATA_DIR>/stack.json` (apps/stack), removed at exit. */
export interface StackFile {
  /** The stack's process, to tell a running stack from a file left behind by a killed one. */
  pid: number;
  /** The API's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  redisUrl: string;
  prefix: string;
  /** Where the stack keeps its API key; null when it was started with IMAGEGEN_BOOTSTRAP_API_KEY. */
  apiKeyFile: string | null;
}

export type StackLookup =
  { found: true; file: string; stack: StackFile } | { found: false; file: string; why: string };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running stack of a data directory, or why there is none (for a plain message). */
export function findStack(dataDir: string): StackLookup {
  const file = join(dataDir, 'stack.json');
  if (!existsSync(file)) {
    return {
      found: false,
      file,
      why: `no running \`npm start\` stack uses ${dataDir} (it has no stack.json)`,
    };
  }
  let stack: Partial<StackFile>;
  try {
    stack = JSON.parse(readFileSync(file, 'utf8')) as Partial<StackFile>;
  } catch {
    return { found: false, file, why: `${file} is not valid JSON` };
  }
  if (
    typeof stack.pid !== 'number' ||
    typeof stack.baseUrl !== 'string' ||
    typeof stack.redisUrl !== 'string'
  ) {
    return { found: false, file, why: `${file} was written by an older \`npm start\`; restart the stack` };
  }
  if (!alive(stack.pid)) {
    return {
      found: false,
      file,
      why: `the \`npm start\` stack that wrote ${file} (pid ${stack.pid}) is not running`,
    };
  }
  return {
    found: true,
    file,
    stack: {
      pid: stack.pid,
      baseUrl: stack.baseUrl,
      redisUrl: stack.redisUrl,
      prefix: stack.prefix ?? '',
      apiKeyFile: stack.apiKeyFile ?? null,
    },
  };
}

/** How to point the command elsewhere, appended to "no stack" messages. */
export function dataDirHint(dataDirFromEnv: boolean): string {
  return dataDirFromEnv
    ? ''
    : '; a stack started with IMAGEGEN_DATA_DIR=DIR is found with the same IMAGEGEN_DATA_DIR here';
}
