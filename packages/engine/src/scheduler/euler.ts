import type { SchedulerConfig } from './config.js';
import { alphasCumprod, eulerTimesteps, interpSigma, sigmasFromAlphas } from './schedule.js';
import type { NoiseSource, Scheduler, StepResult } from './types.js';

const f = Math.fround;

/**
 * EulerDiscreteScheduler and EulerAncestralDiscreteScheduler (diffusers scheduling_euler_discrete.py,
 * scheduling_euler_ancestral_discrete.py), with s_churn = 0 and the "zero" final sigma.
 */
export class EulerScheduler implements Scheduler {
  readonly className;
  readonly timesteps: number[];
  readonly sigmas: number[];
  readonly initNoiseSigma: number;
  private readonly ancestral: boolean;

  constructor(
    private readonly config: SchedulerConfig,
    numInferenceSteps: number,
  ) {
    this.className = config.className;
    this.ancestral = config.className === 'EulerAncestralDiscreteScheduler';
    const all = sigmasFromAlphas(alphasCumprod(config));
    this.timesteps = eulerTimesteps(
      config.timestepSpacing,
      numInferenceSteps,
      config.numTrainTimesteps,
      config.stepsOffset,
    );
    this.sigmas = [...this.timesteps.map((t) => f(interpSigma(all, t))), 0];
    const maxSigma = Math.max(...this.sigmas);
    // diffusers `init_noise_sigma`: σ_max for linspace/trailing, √(σ_max² + 1) for leading.
    this.initNoiseSigma =
      config.timestepSpacing === 'leading' ? f(Math.sqrt(maxSigma * maxSigma + 1)) : maxSigma;
  }

  scaleModelInput(sample: Float32Array, i: number): Float32Array {
    const sigma = this.sigmas[i]!;
    const scale = f(Math.sqrt(f(sigma * sigma) + 1));
    const out = new Float32Array(sample.length);
    for (let k = 0; k < sample.length; k++) out[k] = sample[k]! / scale;
    return out;
  }

  step(modelOutput: Float32Array, i: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const sigma = this.sigmas[i]!;
    const sigmaNext = this.sigmas[i + 1]!;
    const n = sample.length;
    const denoised = new Float32Array(n);
    if (this.config.predictionType === 'epsilon') {
      for (let k = 0; k < n; k++) denoised[k] = sample[k]! - sigma * modelOutput[k]!;
    } else {
      const c1 = f(-sigma / Math.sqrt(sigma * sigma + 1));
      const c2 = f(sigma * sigma + 1);
      for (let k = 0; k < n; k++) denoised[k] = modelOutput[k]! * c1 + sample[k]! / c2;
    }
    const prevSample = new Float32Array(n);
    if (!this.ancestral) {
      const dt = f(sigmaNext - sigma);
      for (let k = 0; k < n; k++) {
        const d = (sample[k]! - denoised[k]!) / sigma;
        prevSample[k] = sample[k]! + d * dt;
      }
      return { prevSample, denoised };
    }
    const sigmaUp = f(Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2));
    const sigmaDown = f(Math.sqrt(sigmaNext ** 2 - sigmaUp ** 2));
    const dt = f(sigmaDown - sigma);
    const eps = sigmaUp > 0 ? noise(i) : null;
    for (let k = 0; k < n; k++) {
      const d = (sample[k]! - denoised[k]!) / sigma;
      prevSample[k] = sample[k]! + d * dt + (eps ? eps[k]! * sigmaUp : 0);
    }
    return { prevSample, denoised };
  }
}
