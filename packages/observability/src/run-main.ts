import type { EventEmitter } from 'node:events';

import { ConfigError } from '@imagegen/contracts';

import { createLogger, type Logger } from './logger.js';

/** What a process's start function hands back once it runs. */
export interface RunningProcess {
  /** Stops intake, finishes in-flight work and closes connections; called once, on SIGTERM/SIGINT. */
  close(): Promise<void>;
  /** Where shutdown is logged; startup failures go to a fresh logger when start never returned one. */
  logger?: Logger;
  /** Overrides `RunMainOptions.shutdownTimeoutMs` once the config is known (e.g. WORKER_SHUTDOWN_MS + margin). */
  shutdownTimeoutMs?: number;
}

export interface RunMainOptions {
  /** The service name of the fallback logger. Default `main`. */
  name?: string;
  /** Logs startup failures, and shutdown when `start` returns no logger. Default: a new logger named `name`. */
  logger?: Logger;
  /** How long `close()` may take before the process exits 1 anyway. Default 30 000 ms. */
  shutdownTimeoutMs?: number;
  /** Where signals arrive (tests pass an emitter). Default `process`. */
  signals?: Pick<EventEmitter, 'on'>;
  /** Ends the process (tests pass a spy). Default `process.exit`. */
  exit?: (code: number) => void;
  /** Where a configuration error is printed. Default `process.stderr`. */
  stderr?: { write(text: string): unknown };
}

/** Exit status of a process whose environment is invalid (as with a usage error). */
export const EXIT_INVALID_CONFIGURATION = 2;

/**
 * Runs a process's composition root. `start` parses the configuration and starts the process; then:
 * - a `ConfigError` (from contracts' `parseEnv`) prints its message — the
 *   `invalid configuration:` list of every bad variable — to stderr without a stack trace, and exits 2;
 * - any other startup error is logged and exits 1;
 * - on SIGTERM or SIGINT, `close()` is called once (later signals are ignored) and the process exits 0
 *   when it resolves, or 1 when it rejects or takes longer than the shutdown timeout.
 * Resolves once startup has finished (or failed).
 */
export async function runMain(
  start: () => Promise<RunningProcess>,
  options: RunMainOptions = {},
): Promise<void> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? process;
  let running: RunningProcess;
  try {
    running = await start();
  } catch (err) {
    if (err instanceof ConfigError) {
      (options.stderr ?? process.stderr).write(`${err.message}\n`);
      exit(EXIT_INVALID_CONFIGURATION);
    } else {
      (options.logger ?? createLogger(options.name ?? 'main')).fatal({ err }, 'failed to start');
      exit(1);
    }
    return;
  }
  const logger = running.logger ?? options.logger ?? createLogger(options.name ?? 'main');
  const timeoutMs = running.shutdownTimeoutMs ?? options.shutdownTimeoutMs ?? 30_000;
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal, timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown did not finish in time');
      exit(1);
    }, timeoutMs);
    running.close().then(
      () => {
        clearTimeout(timer);
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    signals.on(signal, () => shutdown(signal));
  }
}
