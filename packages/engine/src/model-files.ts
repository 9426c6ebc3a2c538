/**
 * `@imagegen/engine/model-files`: model directories without the runtime — which files the engine reads,
 * pull records, name resolution and the memory estimate. Loads neither onnxruntime nor sharp, so
 * commands that only move or list files start fast.
 */
export {
  isEngineFile,
  isWeightFile,
  missingLayoutFiles,
  NETWORK_FOLDERS,
  REQUIRED_FILES,
} from './model/layout.js';
export {
  listModelFiles,
  modelIdentity,
  modelWeightBytes,
  PULL_RECORD_FILE,
  PulledFile,
  PullRecord,
  pulledModelDir,
  readPullRecord,
  resolveModelDir,
  writePullRecord,
} from './model/store.js';
export {
  deviceMemory,
  estimateModelMemory,
  modelFitProblem,
  RUNTIME_OVERHEAD_BYTES,
  WEIGHT_FACTOR,
  type DeviceMemory,
} from './model/fit.js';
