import type { SchedulerClass } from './config.js';

/** Produces the fresh Gaussian noise a stochastic step needs (same length as the latents). */
export type NoiseSource = (stepIndex: number) => Float32Array;

export interface StepResult {
  /** Latents for the next step. */
  prevSample: Float32Array;
  /** The scheduler's estimate of the clean latents (what LCM decodes). */
  denoised: Float32Array;
}

/**
 * A diffusion sampler configured for one generation (`set_timesteps` already applied). Stateful for
 * multistep samplers, so create one per generation.
 */
export interface Scheduler {
  readonly className: SchedulerClass;
  /** Timesteps passed to the UNet, one per model evaluation, in order. */
  readonly timesteps: readonly number[];
  /** Standard deviation of the initial noise. */
  readonly initNoiseSigma: number;
  /** σ per step plus a final 0 (Euler family); empty for the others. */
  readonly sigmas: readonly number[];
  /** Scales the UNet input for step `i` (in place allowed; returns the scaled array). */
  scaleModelInput(sample: Float32Array, i: number): Float32Array;
  /** One sampler step from the model output at step `i`. */
  step(modelOutput: Float32Array, i: number, sample: Float32Array, noise: NoiseSource): StepResult;
}
