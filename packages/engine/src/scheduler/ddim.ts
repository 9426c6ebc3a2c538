import type { SchedulerConfig } from './config.js';
import { alphasCumprod, ddimTimesteps } from './schedule.js';
import type { NoiseSource, Scheduler, StepResult } from './types.js';

/** x̂0 and ε̂ from a model output, for ε- or v-prediction (diffusers DDIM `step`). */
export function predictOriginal(
  config: SchedulerConfig,
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaProd: number,
): { x0: Float32Array; eps: Float32Array } {
  const n = sample.length;
  const x0 = new Float32Array(n);
  const eps = new Float32Array(n);
  const sa = Math.sqrt(alphaProd);
  const sb = Math.sqrt(1 - alphaProd);
  if (config.predictionType === 'epsilon') {
    for (let k = 0; k < n; k++) {
      x0[k] = (sample[k]! - sb * modelOutput[k]!) / sa;
      eps[k] = modelOutput[k]!;
    }
  } else {
    for (let k = 0; k < n; k++) {
      x0[k] = sa * sample[k]! - sb * modelOutput[k]!;
      eps[k] = sa * modelOutput[k]! + sb * sample[k]!;
    }
  }
  if (config.clipSample) {
    const r = config.clipSampleRange;
    for (let k = 0; k < n; k++) x0[k] = Math.min(r, Math.max(-r, x0[k]!));
  }
  return { x0, eps };
}

/** DDIMScheduler with η = 0 (diffusers scheduling_ddim.py). */
export class DdimScheduler implements Scheduler {
  readonly className = 'DDIMScheduler' as const;
  readonly timesteps: number[];
  readonly sigmas: number[] = [];
  readonly initNoiseSigma = 1;
  private readonly alphas: Float32Array;
  private readonly finalAlpha: number;
  private readonly stride: number;

  constructor(
    private readonly config: SchedulerConfig,
    numInferenceSteps: number,
  ) {
    this.alphas = alphasCumprod(config);
    this.finalAlpha = config.setAlphaToOne ? 1 : this.alphas[0]!;
    this.stride = Math.floor(config.numTrainTimesteps / numInferenceSteps);
    this.timesteps = ddimTimesteps(
      config.timestepSpacing,
      numInferenceSteps,
      config.numTrainTimesteps,
      config.stepsOffset,
    );
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, i: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    const t = this.timesteps[i]!;
    const prevT = t - this.stride;
    const alphaT = this.alphas[t]!;
    const alphaPrev = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const { x0, eps } = predictOriginal(this.config, modelOutput, sample, alphaT);
    const a = Math.sqrt(alphaPrev);
    const b = Math.sqrt(1 - alphaPrev);
    const prevSample = new Float32Array(sample.length);
    for (let k = 0; k < sample.length; k++) prevSample[k] = a * x0[k]! + b * eps[k]!;
    return { prevSample, denoised: x0 };
  }
}
