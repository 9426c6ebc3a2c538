import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadDispatcherConfig, startDispatcher, type RunningDispatcher } from '@imagegen/dispatcher';

import { startStack, type TestStack } from '../support/stack.js';

// The Python client (clients/python) against the live service: it is installed with pip, offline, into a
// temporary directory, and its unittest suite runs from there with /usr/bin/python3 (Debian's; the python3
// on PATH where there is none).
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = join(ROOT, 'clients', 'python');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Runs a command to its end (asynchronously: the API and worker under test live in this process). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', (err) => resolve({ code: null, output: `${output}${String(err)}` }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

let main: TestStack;
let limits: TestStack;
let dispatcher: RunningDispatcher;
let target: string;

beforeAll(async () => {
  [main, limits] = await Promise.all([
    // One worker and the dispatcher; webhooks to the tests' receiver on 127.0.0.1 allowed.
    startStack({ env: { IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1' } }),
    // No worker (jobs stay queued) and tiny limits: 60 submits and cancels a minute per key (a token a
    // second), one unfinished job per key, two waiting jobs in all.
    startStack({
      workers: 0,
      env: { RATE_LIMIT_PER_MINUTE: '60', CONCURRENCY_LIMIT: '1', QUEUE_MAX_WAITING: '2' },
    }),
  ]);
  dispatcher = await startDispatcher(
    loadDispatcherConfig({ ...main.env, WEBHOOK_RETRY_SCHEDULE: '200ms,400ms', WEBHOOK_TIMEOUT_MS: '2000' }),
  );
  target = await mkdtemp(join(tmpdir(), 'imagegen-python-'));
});

afterAll(async () => {
  await dispatcher.close();
  await Promise.all([main.stop(), limits.stop()]);
  await rm(target, { recursive: true, force: true });
});

describe('the imagegen Python package', () => {
  it('installs from the repository with pip, offline (no index, build isolation on)', async () => {
    // Debian's python3 has pip as python3-pip; where it does not, the python3 on PATH installs the same
    // pure-Python wheel.
    const pip = (await run(PYTHON, ['-m', 'pip', '--version'])).code === 0 ? PYTHON : 'python3';
    const install = await run(
      pip,
      [
        '-m',
        'pip',
        'install',
        '--no-index',
        '--no-cache-dir',
        '--disable-pip-version-check',
        '--target',
        target,
        PACKAGE,
      ],
      { ...process.env, PIP_NO_INDEX: '1', PIP_NO_INPUT: '1' },
    );
    expect(install.code, install.output).toBe(0);
    expect(install.output).toMatch(/Successfully installed imagegen-0\.1\.0/);
  });

  it('passes its unittest suite against the live service', async () => {
    const other = await main.api.apiKeys.create('python-other');
    const limitKeys: string[] = [];
    for (let i = 0; i < 12; i++) limitKeys.push((await limits.api.apiKeys.create(`python-${i}`)).secret);
    const env = {
      ...process.env,
      PYTHONPATH: target,
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONUNBUFFERED: '1',
      IMAGEGEN_API_KEY: main.key,
      IMAGEGEN_BASE_URL: main.base,
      IMAGEGEN_TEST_BASE_URL: main.base,
      IMAGEGEN_TEST_API_KEY: main.key,
      IMAGEGEN_TEST_OTHER_API_KEY: other.secret,
      IMAGEGEN_TEST_WEBHOOK_SECRET: main.webhookSecret,
      IMAGEGEN_TEST_LIMITS_BASE_URL: limits.base,
      IMAGEGEN_TEST_LIMITS_API_KEYS: JSON.stringify(limitKeys),
      IMAGEGEN_TEST_INSTALLED_AT: target,
    };
    const { code, output } = await run(
      PYTHON,
      ['-m', 'unittest', 'discover', '-s', join(PACKAGE, 'tests'), '-v'],
      env,
    );
    expect(code, output).toBe(0);
    const ran = /^Ran (\d+) tests? in /m.exec(output);
    expect(Number(ran?.[1]), output).toBeGreaterThanOrEqual(30);
    expect(output).toMatch(/^OK$/m); // not "OK (skipped=…)": nothing is skipped
  }, 120_000);
});
