import { execFileSync } from 'node:child_process';
import { freemem } from 'node:os';

import type { ExecutionProvider } from '../runtime/options.js';

/**
 * Memory a model needs on its device, estimated from its weights: onnxruntime holds every network's
 * weights for the life of the sessions (`WEIGHT_FACTOR`, a quarter more for the copies and padding it
 * makes of initializers while it optimises the graph), plus room for the activations of one generation
 * and the runtime itself (`RUNTIME_OVERHEAD_BYTES`). A rough bound, meant to refuse a model that cannot
 * fit (an 8 GB export on a 4 GB card), not to predict the peak: `imagegen models verify` measures that.
 */
export const WEIGHT_FACTOR = 1.25;
export const RUNTIME_OVERHEAD_BYTES = 512 * 2 ** 20;

export function estimateModelMemory(weightBytes: number): number {
  return Math.ceil(weightBytes * WEIGHT_FACTOR) + RUNTIME_OVERHEAD_BYTES;
}

/** Memory available on the device that would hold the model, and where the figure comes from. */
export interface DeviceMemory {
  bytes: number;
  source: string;
}

/**
 * Free memory of the execution provider's device: for `cpu`, what the process may still take (the
 * cgroup limit counted, Node's `process.availableMemory`, else the system's free memory); for `cuda`, the
 * GPU's free memory as `nvidia-smi` reports it. Null when it cannot be read (no `nvidia-smi`).
 */
export function deviceMemory(provider: ExecutionProvider, deviceId = 0): DeviceMemory | null {
  if (provider === 'cpu') {
    const available = (process as { availableMemory?: () => number }).availableMemory?.();
    return available !== undefined && available > 0
      ? { bytes: available, source: 'available memory of this process' }
      : { bytes: freemem(), source: 'free system memory' };
  }
  try {
    const out = execFileSync(
      'nvidia-smi',
      [`--id=${deviceId}`, '--query-gpu=memory.free', '--format=csv,noheader,nounits'],
      { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const mib = Number(out.trim().split('\n')[0]);
    return Number.isFinite(mib) && mib >= 0
      ? { bytes: mib * 2 ** 20, source: `free memory of GPU ${deviceId} (nvidia-smi)` }
      : null;
  } catch {
    return null;
  }
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Why the model will not fit, as a message for an operator, or null when it fits. `neededBytes` is
 * `estimateModelMemory(weights)`.
 */
export function modelFitProblem(options: {
  weightBytes: number;
  available: DeviceMemory;
  provider: ExecutionProvider;
}): string | null {
  const needed = estimateModelMemory(options.weightBytes);
  if (needed <= options.available.bytes) return null;
  const device = options.provider === 'cpu' ? 'this machine' : 'the GPU';
  return (
    `the model will not fit ${device}: its weights are ${gib(options.weightBytes)}, so it needs about ` +
    `${gib(needed)} (weights × ${WEIGHT_FACTOR} + ${gib(RUNTIME_OVERHEAD_BYTES)} for activations and ` +
    `the runtime), but only ${gib(options.available.bytes)} is free (${options.available.source}). ` +
    `Use a smaller or fp16 export, free memory, or set MODEL_MEMORY_BYTES to the memory the model may use`
  );
}
