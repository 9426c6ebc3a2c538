#!/usr/bin/env node
// `npm test`: the build first (the tests spawn the compiled dist/ mains; then the playground's assets), then
// the tests' type check, ESLint, Prettier and Vitest at once. Each check's output is printed, prefixed, when
// it ends; Vitest's streams as it runs, but its closing summary is held back and printed last. The exit code is non-zero
// when any step's is. Arguments are passed to Vitest (e.g. `npm test -- test/service`).
import { spawn } from 'node:child_process';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH}` };
const children = new Set();

/** Runs one step; resolves to its exit code (1 for a signal or a spawn error) and its output. */
function run(name, command, args, onLine) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const lines = [];
    let partial = '';
    const take = (chunk) => {
      const text = partial + chunk.toString();
      const parts = text.split('\n');
      partial = parts.pop();
      for (const line of parts) onLine ? onLine(line) : lines.push(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const done = (code) => {
      children.delete(child);
      if (partial) onLine ? onLine(partial) : lines.push(partial);
      resolve({ name, code, lines, seconds: Math.round((Date.now() - started) / 1000) });
    };
    child.on('error', (err) => {
      lines.push(String(err));
      done(1);
    });
    child.on('close', (code, signal) => done(signal ? 1 : (code ?? 1)));
  });
}

const print = ({ name, code, lines, seconds }) => {
  for (const line of lines) process.stdout.write(`[${name}] ${line}\n`);
  process.stdout.write(`[gate] ${name}: ${code === 0 ? 'ok' : `FAILED (exit ${code})`} in ${seconds} s\n`);
};

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
    process.exit(130);
  });
}

const build = await run('build', 'tsc', ['-b']);
print(build);
if (build.code !== 0) process.exit(build.code);
// The playground's assets (esbuild, well under a second), so the browser tests see the current sources.
const web = await run('web', process.execPath, ['apps/web/build.mjs']);
print(web);
if (web.code !== 0) process.exit(web.code);

// Vitest's lines stream through, except its closing summary (from "Test Files" on), kept for the end.
const summary = [];
const vitest = run('vitest', 'vitest', ['run', ...process.argv.slice(2)], (line) => {
  if (summary.length > 0 || /^\s*Test Files\s/.test(line)) summary.push(line);
  else process.stdout.write(`${line}\n`);
});
const checks = [
  run('typecheck', 'tsc', ['-p', 'tsconfig.tests.json']),
  run('eslint', 'eslint', ['.', '--max-warnings', '0']),
  run('prettier', 'prettier', ['--check', '.']),
].map((step) => step.then((result) => (print(result), result)));

const results = [...(await Promise.all(checks)), await vitest];
const failed = results.filter((r) => r.code !== 0).map((r) => r.name);
const v = results.at(-1);
process.stdout.write(`[gate] vitest: ${v.code === 0 ? 'ok' : `FAILED (exit ${v.code})`} in ${v.seconds} s\n`);
if (failed.length > 0) process.stdout.write(`[gate] FAILED: ${failed.join(', ')}\n`);
for (const line of summary) process.stdout.write(`${line}\n`);
process.exit(failed.length > 0 ? 1 : 0);
