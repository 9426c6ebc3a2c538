import type { SchedulerConfig } from './config.js';
import { alphasCumprod, ddimTimesteps } from './schedule.js';
import type { NoiseSource, Scheduler, StepResult } from './types.js';

/**
 * PNDMScheduler in its PLMS form (skip_prk_steps = true, as Stable Diffusion 1.x ships it):
 * diffusers scheduling_pndm.py `set_timesteps` and `step_plms`. N inference steps evaluate the
 * model N + 1 times (the second timestep repeats for the Heun-like warm-up).
 */
export class PndmScheduler implements Scheduler {
  readonly className = 'PNDMScheduler' as const;
  readonly timesteps: number[];
  readonly sigmas: number[] = [];
  readonly initNoiseSigma = 1;
  private readonly alphas: Float32Array;
  private readonly finalAlpha: number;
  private readonly stride: number;
  private ets: Float32Array[] = [];
  private counter = 0;
  private curSample: Float32Array | null = null;

  constructor(
    private readonly config: SchedulerConfig,
    numInferenceSteps: number,
  ) {
    this.alphas = alphasCumprod(config);
    this.finalAlpha = config.setAlphaToOne ? 1 : this.alphas[0]!;
    this.stride = Math.floor(config.numTrainTimesteps / numInferenceSteps);
    const base = ddimTimesteps(
      config.timestepSpacing,
      numInferenceSteps,
      config.numTrainTimesteps,
      config.stepsOffset,
    ).reverse(); // ascending
    const plms =
      base.length >= 2 ? [...base.slice(0, -1), base[base.length - 2]!, base[base.length - 1]!] : [...base];
    this.timesteps = plms.reverse();
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, i: number, sample: Float32Array, _noise: NoiseSource): StepResult {
    let timestep = this.timesteps[i]!;
    let prevTimestep = timestep - this.stride;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput);
    } else {
      prevTimestep = timestep;
      timestep = timestep + this.stride;
    }
    const n = sample.length;
    let eps: Float32Array;
    let x = sample;
    const e = this.ets;
    if (e.length === 1 && this.counter === 0) {
      eps = modelOutput;
      this.curSample = sample;
    } else if (e.length === 1 && this.counter === 1) {
      eps = new Float32Array(n);
      for (let k = 0; k < n; k++) eps[k] = (modelOutput[k]! + e[0]![k]!) / 2;
      x = this.curSample ?? sample;
      this.curSample = null;
    } else if (e.length === 2) {
      eps = new Float32Array(n);
      for (let k = 0; k < n; k++) eps[k] = (3 * e[1]![k]! - e[0]![k]!) / 2;
    } else if (e.length === 3) {
      eps = new Float32Array(n);
      for (let k = 0; k < n; k++) eps[k] = (23 * e[2]![k]! - 16 * e[1]![k]! + 5 * e[0]![k]!) / 12;
    } else {
      eps = new Float32Array(n);
      for (let k = 0; k < n; k++) {
        eps[k] = (55 * e[3]![k]! - 59 * e[2]![k]! + 37 * e[1]![k]! - 9 * e[0]![k]!) / 24;
      }
    }
    const prevSample = this.prevSample(x, timestep, prevTimestep, eps);
    this.counter++;
    return { prevSample, denoised: prevSample };
  }

  private prevSample(sample: Float32Array, t: number, prevT: number, output: Float32Array): Float32Array {
    const alphaT = this.alphas[t]!;
    const alphaPrev = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const betaT = 1 - alphaT;
    const betaPrev = 1 - alphaPrev;
    const n = sample.length;
    let eps = output;
    if (this.config.predictionType === 'v_prediction') {
      eps = new Float32Array(n);
      for (let k = 0; k < n; k++) eps[k] = Math.sqrt(alphaT) * output[k]! + Math.sqrt(betaT) * sample[k]!;
    }
    const sampleCoeff = Math.sqrt(alphaPrev / alphaT);
    const denom = alphaT * Math.sqrt(betaPrev) + Math.sqrt(alphaT * betaT * alphaPrev);
    const out = new Float32Array(n);
    for (let k = 0; k < n; k++) out[k] = sampleCoeff * sample[k]! - ((alphaPrev - alphaT) * eps[k]!) / denom;
    return out;
  }
}
