import { EngineError } from '@imagegen/engine';
import { isUpscalerNetwork, NetworkNotFoundError, networkDir, SAFETY_NETWORK } from '@imagegen/networks';

import { UsageError } from './usage.js';

/** A shipped network by name (or a directory as given); a missing one is an engine `model_not_found`. */
export function resolveNetwork(nameOrDir: string | undefined, fallback: string): string {
  const name = nameOrDir ?? fallback;
  if (name !== SAFETY_NETWORK && !isUpscalerNetwork(name)) return name;
  try {
    return networkDir(name);
  } catch (e) {
    if (e instanceof NetworkNotFoundError) throw new EngineError('model_not_found', e.message);
    throw e;
  }
}

/**
 * Runs `fn`; a network that is missing, unreadable or lacks the asked factor is the operator's choice to fix:
 * a UsageError (`imagegen: <code>: <message>`, exit status 2).
 */
export async function asUsage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof EngineError) throw new UsageError(`${e.code}: ${e.message}`);
    throw e;
  }
}
