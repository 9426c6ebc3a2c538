import { ConfigError } from '@imagegen/contracts';
import {
  deviceMemory,
  modelFitProblem,
  modelWeightBytes,
  type DeviceMemory,
} from '@imagegen/engine/model-files';

import type { WorkerConfig } from './config.js';

/**
 * Refuses a model that will not fit its device before anything loads, so an operator reads why at
 * start instead of seeing the first job fail (or the process killed for memory). The need is estimated
 * from the weights' size (see the engine's `estimateModelMemory`); the memory is MODEL_MEMORY_BYTES when
 * set, else what the device has free. Returns what was checked, or null when the device's memory could
 * not be read (no nvidia-smi): the worker then starts and says so.
 */
export function checkModelFits(
  config: Pick<WorkerConfig, 'MODEL_DIR' | 'MODEL_MEMORY_BYTES' | 'ORT_PROVIDER' | 'ORT_DEVICE_ID'>,
  readMemory: typeof deviceMemory = deviceMemory,
): { weightBytes: number; available: DeviceMemory } | null {
  const available =
    config.MODEL_MEMORY_BYTES > 0
      ? { bytes: config.MODEL_MEMORY_BYTES, source: 'MODEL_MEMORY_BYTES' }
      : readMemory(config.ORT_PROVIDER, config.ORT_DEVICE_ID);
  if (!available) return null;
  const weightBytes = modelWeightBytes(config.MODEL_DIR);
  const problem = modelFitProblem({ weightBytes, available, provider: config.ORT_PROVIDER });
  if (problem) throw new ConfigError([{ variable: 'MODEL_DIR', message: problem }]);
  return { weightBytes, available };
}
