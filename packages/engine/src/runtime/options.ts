/** Where ONNX sessions run. */
export type ExecutionProvider = 'cpu' | 'cuda';

export interface RuntimeOptions {
  /** Default 'cpu'. 'cuda' needs onnxruntime-node's CUDA provider (ONNXRUNTIME_NODE_INSTALL=cuda12). */
  provider: ExecutionProvider;
  /** CUDA device ordinal. Default 0. */
  deviceId: number;
  /** Threads one operator may use; 0 lets onnxruntime decide (all physical cores). */
  intraOpThreads: number;
}

export const DEFAULT_RUNTIME: RuntimeOptions = { provider: 'cpu', deviceId: 0, intraOpThreads: 0 };
