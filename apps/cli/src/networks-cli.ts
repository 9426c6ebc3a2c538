import { EngineError } from '@imagegen/engine';
import { isUpscalerNetwork, NetworkNotFoundError, networkDir, SAFETY_NETWORK } from '@imagegen/networks';

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
