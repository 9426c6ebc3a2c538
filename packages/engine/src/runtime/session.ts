import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import * as ort from 'onnxruntime-node';

import { EngineError } from '../errors.js';
import type { RuntimeOptions } from './options.js';

const require = createRequire(import.meta.url);

/** Whether onnxruntime-node's CUDA execution provider library is installed next to its binding. */
export function cudaProviderInstalled(): boolean {
  try {
    const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
    return existsSync(
      join(pkg, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'),
    );
  } catch {
    return false;
  }
}

function sessionOptions(runtime: RuntimeOptions): ort.InferenceSession.SessionOptions {
  const providers: ort.InferenceSession.ExecutionProviderConfig[] =
    runtime.provider === 'cuda' ? [{ name: 'cuda', deviceId: runtime.deviceId }, 'cpu'] : ['cpu'];
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // Every session has its own intra-op pool, whose threads by default spin-wait for more work after each
    // run. The engine runs its sessions one after another (text encoder, UNet, a preview's VAE decode, UNet
    // again…), so each pool spins on cores the next session needs: measured on the bundled model on 2 cores,
    // a preview's decode made the UNet steps after it slower by more than the decode itself took, and the
    // generation's CPU time was about twice its wall time with no preview at all. Idle threads now block.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  if (runtime.intraOpThreads > 0) options.intraOpNumThreads = runtime.intraOpThreads;
  return options;
}

/**
 * Opens one ONNX file of the model directory. External weight files (`model.onnx_data`, `weights.pb`)
 * are resolved by onnxruntime relative to the model file. Errors name the file.
 */
export async function openSession(
  dir: string,
  rel: string,
  runtime: RuntimeOptions,
): Promise<ort.InferenceSession> {
  if (runtime.provider === 'cuda' && !cudaProviderInstalled()) {
    throw new EngineError(
      'provider_unavailable',
      'the CUDA execution provider is not installed: run "(cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install)" (needs network, CUDA 12 and cuDNN 9), or set the provider to cpu',
    );
  }
  try {
    return await ort.InferenceSession.create(join(dir, rel), sessionOptions(runtime));
  } catch (e) {
    const msg = (e as Error).message;
    if (runtime.provider === 'cuda' && /cuda|provider/i.test(msg)) {
      throw new EngineError(
        'provider_unavailable',
        `${rel}: the CUDA execution provider failed to start: ${msg}`,
        {
          file: rel,
          cause: e,
        },
      );
    }
    throw new EngineError('model_invalid', `${rel} could not be loaded by onnxruntime: ${msg}`, {
      file: rel,
      cause: e,
    });
  }
}
