import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exited } from '../support/processes.js';
import { freePort } from '../support/redis.js';
import { slowModel } from '../support/slow-model.js';

// The real `npm start` stack (compiled, as a user runs it) in a data directory of its own, and the compiled
// CLI finding it through IMAGEGEN_DATA_DIR alone — no URL, no key given.
const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'apps/cli/bin/imagegen.js');
const dir = mkdtempSync(join(tmpdir(), 'imagegen-cli-svc-'));
const dataDir = join(dir, 'data');
const emptyDir = join(dir, 'empty');
const slow = slowModel(40);
let stack: ReturnType<typeof spawn>;
let base: string;

beforeAll(async () => {
  base = `http://127.0.0.1:${await freePort()}`;
  stack = spawn(process.execPath, [join(root, 'apps/stack/dist/main.js')], {
    env: {
      ...process.env,
      IMAGEGEN_DATA_DIR: dataDir,
      PORT: new URL(base).port,
      MODEL_DIR: slow.dir,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    stack.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('imagegen is running')) resolve();
    });
    void exited(stack).then((code) => reject(new Error(`the stack exited (${String(code)}):\n${stderr}`)));
  });
});
afterAll(async () => {
  if (stack.exitCode === null) {
    stack.kill('SIGINT');
    await exited(stack);
  }
  slow.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The compiled CLI, as a user runs it; `env` replaces the target variables (IMAGEGEN_DATA_DIR by default). */
function cli(args: string[], env: Record<string, string> = { IMAGEGEN_DATA_DIR: dataDir }): Promise<Run> {
  return capture(process.execPath, [bin, ...args], env);
}

/** The same on a pseudo-terminal (util-linux `script`): stdout and stderr together, as the terminal shows. */
function onTty(args: string[]): Promise<Run> {
  const quoted = [process.execPath, bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return capture('script', ['-qec', quoted, '/dev/null'], { IMAGEGEN_DATA_DIR: dataDir });
}

function capture(cmd: string, args: string[], env: Record<string, string>): Promise<Run> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('IMAGEGEN_')),
  ) as Record<string, string>;
  const child = spawn(cmd, args, { cwd: dir, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return exited(child).then((status) => ({ status, stdout, stderr }));
}

describe('imagegen against the running service', () => {
  it('generate shows a live progress bar on a terminal and writes the image at its exact size', async () => {
    const file = join(dir, 'red.jpg');
    const r = await onTty([
      'generate',
      'A red circle',
      '--aspect-ratio',
      '1:1',
      '--seed',
      '42',
      '--out',
      file,
    ]);
    expect(r.status, r.stdout).toBe(0);
    // Redrawn in place (carriage return, erase line), from the queue through the denoising steps.
    const redraw = (line: string) => new RegExp(`\r${String.fromCharCode(27)}\\[K${line}`);
    expect(r.stdout).toMatch(redraw('queued\\s+\\[\\.{30}\\]'));
    expect(r.stdout).toMatch(redraw('generating\\s+\\[#+\\.+\\] ([1-9]|[1-3]\\d)/40'));
    expect(r.stdout).toMatch(redraw('generating\\s+\\[#{30}\\] 40/40'));
    const bytes = readFileSync(file).length;
    expect(r.stdout).toContain(`wrote ${file} (1024×1024 jpeg, ${bytes} bytes)`);
    expect(r.stdout).toMatch(/seed 42\r?\n/);
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1024, 1024]);
  });

  it('generate elsewhere prints no bar; --format png and --upsample give a PNG and the revised prompt', async () => {
    const r = await cli([
      'generate',
      'mountain landscape',
      '--aspect-ratio',
      '4:3',
      '--format',
      'png',
      '--upsample',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const seed = /^seed (\d+)$/m.exec(r.stdout)![1]!;
    expect(r.stdout).toMatch(/^revised prompt: .*mountain landscape.+$/m);
    const meta = await sharp(join(dir, `imagegen-${seed}.png`)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1024, 768]);
  });

  it('generate exits 1 with the error code when the prompt is refused, and writes nothing', async () => {
    const r = await cli(['generate', 'a decapitated body, gore everywhere', '--seed', '9']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^imagegen: content_policy_violation: [^\n]+violence[^\n]+\n$/);
    expect(r.stdout).toBe('');
    expect(existsSync(join(dir, 'imagegen-9.jpg'))).toBe(false);
  });

  it('generate --no-wait, then jobs watch, get, list and cancel', async () => {
    const submitted = await cli(['generate', '--no-wait', 'two small blue stars', '--seed', '3']);
    expect(submitted.status).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^gen_/);
    expect(submitted.stderr).toContain(`imagegen jobs watch ${id}`);

    const file = join(dir, 'stars.jpg');
    const watched = await cli(['jobs', 'watch', id, '--out', file]);
    expect(watched.status).toBe(0);
    expect(watched.stderr).toContain(`${id} generating 40/40\n`);
    expect(watched.stderr).toMatch(new RegExp(`${id} succeeded\\n$`));
    expect(watched.stdout).toContain(`wrote ${file} (1920×1080 jpeg`);

    const got = await cli(['jobs', 'get', id]);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, status: 'succeeded', seed: 3 });

    // Jobs queued ahead, submitted at once, keep the one to cancel unfinished while the two commands start
    // (a worker finishes a fixture-model job in well under a second; a finished job cannot be canceled).
    const key = readFileSync(join(dataDir, 'api-key'), 'utf8').trim();
    const ahead = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${base}/v1/images/generations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'a red square', seed: 100 + i }),
        }),
      ),
    );
    expect(ahead.map((r) => r.status)).toEqual(ahead.map(() => 202));
    const aheadIds = await Promise.all(ahead.map(async (r) => ((await r.json()) as { id: string }).id));
    const another = (await cli(['generate', '--no-wait', 'a lighthouse', '--seed', '4'])).stdout.trim();
    const canceled = await cli(['jobs', 'cancel', another]);
    expect(canceled, canceled.stderr).toMatchObject({ status: 0, stdout: `${another} canceled\n` });
    const late = await cli(['jobs', 'cancel', id]);
    expect(late.status).toBe(1);
    expect(late.stderr).toMatch(/^imagegen: conflict: /);

    const listed = await cli(['jobs', 'list', '--limit', '2']);
    expect(listed.stdout.split('\n').slice(0, 3)).toEqual([
      'id\tstatus\tcreated\taspect\tseed\tprompt',
      expect.stringMatching(new RegExp(`^${another}\tcanceled\t.+\t16:9\t4\ta lighthouse$`)),
      expect.stringMatching(/^gen_\w+\t\w+\t.+\t16:9\t1\d\d\ta red square$/),
    ]);
    const all = JSON.parse(
      (await cli(['jobs', 'list', '--all', '--status', 'canceled', '--json'])).stdout,
    ) as {
      id: string;
    }[];
    expect(all.map((j) => j.id)).toEqual([another]);
    // Leave a quiet stack to the next tests: the jobs queued ahead have ended.
    for (const id of aheadIds) {
      await fetch(`${base}/v1/images/generations/${id}?wait=60`, {
        headers: { authorization: `Bearer ${key}` },
      });
    }
  });

  it('analyze prints the parts and the verdict; exit 1 when the prompt would be refused', async () => {
    const ok = await cli([
      'analyze',
      'A golden retriever puppy playing in a meadow, soft lighting, photorealistic',
    ]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^allowed at safety_tolerance 2\nsubject\s+.*puppy/);
    const refused = await cli(['analyze', 'a decapitated body, gore everywhere', '--tolerance', '0']);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/^refused at safety_tolerance 0: violence\n/);
    expect(refused.stderr).toBe(
      'imagegen: content_policy_violation: the prompt would be refused (violence)\n',
    );
  });

  it('finds the target from flags or IMAGEGEN_BASE_URL/IMAGEGEN_API_KEY, and keys honours IMAGEGEN_DATA_DIR', async () => {
    const key = readFileSync(join(dataDir, 'api-key'), 'utf8').trim();
    const flags = await cli(['jobs', 'list', '--base-url', base, '--api-key', key], {
      IMAGEGEN_DATA_DIR: emptyDir,
    });
    expect(flags.status).toBe(0);
    const fromEnv = await cli(['jobs', 'list'], {
      IMAGEGEN_BASE_URL: base,
      IMAGEGEN_API_KEY: key,
      IMAGEGEN_DATA_DIR: emptyDir,
    });
    expect(fromEnv.stdout).toBe(flags.stdout);
    const keys = await cli(['keys', 'list']);
    expect(keys.status).toBe(0);
    expect(keys.stdout).toMatch(/\tlocal\t/);
    const noKey = await cli(['jobs', 'list', '--base-url', base], { IMAGEGEN_DATA_DIR: emptyDir });
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(
      /^imagegen: no API key for http:\/\/127\.0\.0\.1:\d+: pass --api-key or set IMAGEGEN_API_KEY/,
    );
  });

  it('says plainly when there is no stack to find, and usage errors are one line with a pointer to --help', async () => {
    const none = await cli(['jobs', 'list'], { IMAGEGEN_DATA_DIR: emptyDir });
    expect(none.status).toBe(2);
    expect(none.stderr).toBe(
      `imagegen: no service to talk to: no running \`npm start\` stack uses ${emptyDir} (it has no stack.json). Start one with \`npm start\`, or pass --base-url (or set IMAGEGEN_BASE_URL)\n`,
    );
    const keys = await cli(['keys', 'list'], { IMAGEGEN_DATA_DIR: emptyDir });
    expect(keys.status).toBe(2);
    expect(keys.stderr).toContain(`no running \`npm start\` stack uses ${emptyDir}`);
    // A stack.json left behind by a stack that was killed is not mistaken for a running one.
    const stale = join(dir, 'stale');
    mkdirSync(stale);
    writeFileSync(
      join(stale, 'stack.json'),
      JSON.stringify({ pid: 2 ** 22 + 1, baseUrl: base, redisUrl: 'redis://127.0.0.1:1', prefix: 'x' }),
    );
    const dead = await cli(['analyze', 'a cat'], { IMAGEGEN_DATA_DIR: stale });
    expect(dead.stderr).toContain(
      `the \`npm start\` stack that wrote ${join(stale, 'stack.json')} (pid ${2 ** 22 + 1}) is not running`,
    );

    for (const [args, message] of [
      [['generate'], 'generate needs a prompt'],
      [['generate', 'x', '--seed', '4294967296'], '--seed must be an integer 0..4294967295'],
      [
        ['generate', 'x', '--aspect-ratio', '5:4'],
        '--aspect-ratio must be one of 1:1, 16:9, 9:16, 4:3, 3:4, 21:9, 9:21',
      ],
      [['jobs', 'frob'], 'unknown jobs command "frob"'],
      [['jobs', 'get'], 'jobs get needs a job id'],
    ] as const) {
      const r = await cli([...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`imagegen: ${message} (see \`imagegen ${args[0]} --help\`)\n`);
    }
    expect((await cli(['frobnicate'])).stderr).toBe(
      'imagegen: unknown command "frobnicate" (see `imagegen --help`)\n',
    );
  });

  it('the stack removes its stack.json when it stops, and the command then says it is gone', async () => {
    expect(existsSync(join(dataDir, 'stack.json'))).toBe(true);
    stack.kill('SIGINT');
    expect(await exited(stack)).toBe(0);
    expect(existsSync(join(dataDir, 'stack.json'))).toBe(false);
    const after = await cli(['jobs', 'list']);
    expect(after.status).toBe(2);
    expect(after.stderr).toContain(`no running \`npm start\` stack uses ${dataDir}`);
  });
});
