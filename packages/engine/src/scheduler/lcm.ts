import { EngineError } from '../errors.js';
import type { SchedulerConfig } from './config.js';
import { predictOriginal } from './ddim.js';
import { alphasCumprod } from './schedule.js';
import type { NoiseSource, Scheduler, StepResult } from './types.js';

/** LCMScheduler (diffusers scheduling_lcm.py), strength 1. */
export class LcmScheduler implements Scheduler {
  readonly className = 'LCMScheduler' as const;
  readonly timesteps: number[];
  readonly sigmas: number[] = [];
  readonly initNoiseSigma = 1;
  private readonly alphas: Float32Array;
  private readonly finalAlpha: number;

  constructor(
    private readonly config: SchedulerConfig,
    numInferenceSteps: number,
  ) {
    this.alphas = alphasCumprod(config);
    this.finalAlpha = config.setAlphaToOne ? 1 : this.alphas[0]!;
    const original = config.originalInferenceSteps;
    if (numInferenceSteps > original) {
      throw new EngineError(
        'invalid_argument',
        `LCM supports at most ${original} steps (original_inference_steps)`,
      );
    }
    const k = Math.floor(config.numTrainTimesteps / original);
    // Teacher schedule (1..original)·k − 1, descending; pick floor(linspace(0, original, N, endpoint=False)).
    const origin: number[] = [];
    for (let i = original; i >= 1; i--) origin.push(i * k - 1);
    this.timesteps = [];
    for (let i = 0; i < numInferenceSteps; i++) {
      this.timesteps.push(origin[Math.floor((i * original) / numInferenceSteps)]!);
    }
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, i: number, sample: Float32Array, noise: NoiseSource): StepResult {
    const t = this.timesteps[i]!;
    const last = i === this.timesteps.length - 1;
    const prevT = last ? t : this.timesteps[i + 1]!;
    const alphaT = this.alphas[t]!;
    const alphaPrev = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    // Boundary condition (consistency-model parameterisation), σ_data = 0.5.
    const scaled = t * this.config.timestepScaling;
    const cSkip = 0.25 / (scaled * scaled + 0.25);
    const cOut = scaled / Math.sqrt(scaled * scaled + 0.25);
    const { x0 } = predictOriginal(this.config, modelOutput, sample, alphaT);
    const n = sample.length;
    const denoised = new Float32Array(n);
    for (let k = 0; k < n; k++) denoised[k] = cOut * x0[k]! + cSkip * sample[k]!;
    if (last) return { prevSample: denoised, denoised };
    const z = noise(i);
    const a = Math.sqrt(alphaPrev);
    const b = Math.sqrt(1 - alphaPrev);
    const prevSample = new Float32Array(n);
    for (let k = 0; k < n; k++) prevSample[k] = a * denoised[k]! + b * z[k]!;
    return { prevSample, denoised };
  }
}
