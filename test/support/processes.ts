import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = (app: string) => fileURLToPath(new URL(`../../apps/${app}/dist/main.js`, import.meta.url));

/** A compiled service process (what `npm run api|worker|dispatcher` runs) with the given environment. */
export function spawnService(
  app: 'api' | 'worker' | 'dispatcher',
  env: Record<string, string>,
): ChildProcess {
  return spawn(process.execPath, [main(app)], { env: { ...process.env, ...env }, stdio: 'ignore' });
}

export function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}

/** Polls `fn` every 50 ms until it returns something truthy. */
export async function until<T>(
  what: string,
  fn: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once `url` answers 200. */
export function serving(url: string, ms = 30_000): Promise<true> {
  return until(
    `${url} to answer`,
    () =>
      fetch(url).then(
        (r) => r.ok,
        () => false,
      ),
    ms,
  );
}
