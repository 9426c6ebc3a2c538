import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

/** Runs a compiled entry point (built by `tsc -b`) with only the given environment. */
function run(app: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const main = fileURLToPath(new URL(`../apps/${app}/dist/main.js`, import.meta.url));
  const proc = spawn(process.execPath, [main], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stderr }));
  });
}

describe('an invalid environment', () => {
  it.each([
    ['api', { REDIS_URL: 'nope', PORT: '-1' }],
    ['api', { REDIS_URL: 'nope', ADMIN_API_KEY: 'x'.repeat(40) }],
    ['worker', { REDIS_URL: 'nope', WORKER_PORT: '-1' }],
    ['dispatcher', { REDIS_URL: 'nope', DISPATCHER_PORT: '-1' }],
    ['stack', { REDIS_URL: 'nope', S3_PORT: '-1' }],
  ])(
    'stops %s with exit status 2 and one message naming every bad variable, without a stack trace',
    async (app, env) => {
      const { code, stderr } = await run(app, env);
      expect(code).toBe(2);
      expect(stderr).toMatch(/^invalid configuration:\n/);
      for (const variable of Object.keys(env)) expect(stderr).toContain(`  ${variable}: `);
      expect(stderr).not.toContain('    at ');
    },
  );
});
