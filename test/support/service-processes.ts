import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = (app: string) => fileURLToPath(new URL(`../../apps/${app}/dist/main.js`, import.meta.url));

/** A compiled service process whose output is kept (the last 20 kB) for failure messages. */
export interface ServiceProcess {
  name: string;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Safe to call twice. */
  stop: (graceMs?: number) => Promise<void>;
}

/**
 * Starts `apps/<app>/dist/main.js` with `env` (added to this process's). `wrap` runs it through another
 * command first, e.g. `['ip', 'netns', 'exec', 'host1']` to start it on another network namespace.
 */
export function startService(
  app: 'api' | 'worker' | 'dispatcher',
  env: Record<string, string>,
  options: { name?: string; wrap?: string[] } = {},
): ServiceProcess {
  const wrap = options.wrap ?? [];
  const command = wrap[0] ?? process.execPath;
  const args = [...wrap.slice(1), ...(wrap.length > 0 ? [process.execPath] : []), main(app)];
  const proc = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  proc.on('error', (e) => keep(Buffer.from(`spawn error: ${e.message}\n`)));
  const gone = () => proc.exitCode !== null || proc.signalCode !== null;
  return {
    name: options.name ?? app,
    proc,
    output: () => out,
    stop: async (graceMs = 15_000) => {
      if (gone()) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The processes' recent output, for a failing assertion's message. */
export const outputsOf = (procs: ServiceProcess[]) =>
  procs
    .map((p) => `--- ${p.name} (exit ${p.proc.exitCode ?? p.proc.signalCode ?? 'running'})\n${p.output()}`)
    .join('\n');
