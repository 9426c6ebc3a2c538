import { EngineError } from '../errors.js';

/** The scheduler classes the engine implements, by their diffusers `_class_name`. */
export const SCHEDULER_CLASSES = [
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'DDIMScheduler',
  'LCMScheduler',
  'PNDMScheduler',
] as const;
export type SchedulerClass = (typeof SCHEDULER_CLASSES)[number];

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';
export type PredictionType = 'epsilon' | 'v_prediction';

/**
 * A parsed `scheduler/scheduler_config.json`. Defaults are diffusers' own constructor defaults for each
 * class (diffusers `src/diffusers/schedulers/scheduling_*.py`), so a sparse config behaves as it does there.
 */
export interface SchedulerConfig {
  className: SchedulerClass;
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: number[] | null;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  setAlphaToOne: boolean;
  clipSample: boolean;
  clipSampleRange: number;
  /** LCM: length of the teacher schedule the timesteps are drawn from. */
  originalInferenceSteps: number;
  /** LCM: scale of the boundary-condition time argument. */
  timestepScaling: number;
  /** PNDM: only the PLMS variant (skip_prk_steps = true) is implemented. */
  skipPrkSteps: boolean;
  /** Euler/EulerAncestral: `sigma_min`/`sigma_max` overrides are not supported, only the standard ramp. */
  eta: number;
}

type Raw = Record<string, unknown>;

function num(raw: Raw, key: string, fallback: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new EngineError('model_invalid', `scheduler_config.json: "${key}" must be a number`, {
      file: 'scheduler/scheduler_config.json',
    });
  }
  return v;
}

function bool(raw: Raw, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') {
    throw new EngineError('model_invalid', `scheduler_config.json: "${key}" must be true or false`, {
      file: 'scheduler/scheduler_config.json',
    });
  }
  return v;
}

function oneOf<T extends string>(raw: Raw, key: string, allowed: readonly T[], fallback: T): T {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new EngineError(
      'model_incompatible',
      `scheduler_config.json: "${key}" is ${JSON.stringify(v)}; supported values: ${allowed.join(', ')}`,
      { file: 'scheduler/scheduler_config.json' },
    );
  }
  return v as T;
}

/** Parses a diffusers scheduler config object, applying the per-class defaults. */
export function parseSchedulerConfig(raw: unknown, classOverride?: SchedulerClass): SchedulerConfig {
  const file = 'scheduler/scheduler_config.json';
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EngineError('model_invalid', `${file} must hold a JSON object`, { file });
  }
  const r = raw as Raw;
  const className = classOverride ?? r['_class_name'];
  if (typeof className !== 'string' || !(SCHEDULER_CLASSES as readonly string[]).includes(className)) {
    throw new EngineError(
      'model_incompatible',
      `${file}: scheduler ${JSON.stringify(className)} is not supported; use one of ${SCHEDULER_CLASSES.join(', ')}`,
      { file },
    );
  }
  const cls = className as SchedulerClass;
  const isDdimLike = cls === 'DDIMScheduler' || cls === 'LCMScheduler' || cls === 'PNDMScheduler';
  const trained = r['trained_betas'];
  let trainedBetas: number[] | null = null;
  if (Array.isArray(trained) && trained.length > 0) {
    if (!trained.every((b) => typeof b === 'number' && b > 0 && b < 1)) {
      throw new EngineError('model_invalid', `${file}: "trained_betas" must be numbers in (0, 1)`, { file });
    }
    trainedBetas = trained as number[];
  }
  const config: SchedulerConfig = {
    className: cls,
    numTrainTimesteps: num(r, 'num_train_timesteps', 1000),
    betaStart: num(r, 'beta_start', cls === 'LCMScheduler' ? 0.00085 : 0.0001),
    betaEnd: num(r, 'beta_end', cls === 'LCMScheduler' ? 0.012 : 0.02),
    betaSchedule: oneOf(
      r,
      'beta_schedule',
      ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const,
      cls === 'LCMScheduler' ? 'scaled_linear' : 'linear',
    ),
    trainedBetas,
    predictionType: oneOf(r, 'prediction_type', ['epsilon', 'v_prediction'] as const, 'epsilon'),
    timestepSpacing: oneOf(
      r,
      'timestep_spacing',
      ['leading', 'linspace', 'trailing'] as const,
      isDdimLike ? 'leading' : 'linspace',
    ),
    stepsOffset: num(r, 'steps_offset', 0),
    setAlphaToOne: bool(r, 'set_alpha_to_one', cls !== 'PNDMScheduler'),
    clipSample: bool(r, 'clip_sample', cls === 'DDIMScheduler'),
    clipSampleRange: num(r, 'clip_sample_range', 1),
    originalInferenceSteps: num(r, 'original_inference_steps', 50),
    timestepScaling: num(r, 'timestep_scaling', 10),
    skipPrkSteps: bool(r, 'skip_prk_steps', false),
    eta: 0,
  };
  if (!Number.isInteger(config.numTrainTimesteps) || config.numTrainTimesteps < 2) {
    throw new EngineError('model_invalid', `${file}: "num_train_timesteps" must be an integer ≥ 2`, { file });
  }
  if (cls === 'PNDMScheduler' && !config.skipPrkSteps) {
    throw new EngineError(
      'model_incompatible',
      `${file}: PNDMScheduler with "skip_prk_steps": false (Runge–Kutta warm-up) is not supported; set it to true (as Stable Diffusion's own config does) or choose another scheduler`,
      { file },
    );
  }
  const r0 = r['rescale_betas_zero_snr'];
  if (r0 === true) {
    throw new EngineError('model_incompatible', `${file}: "rescale_betas_zero_snr": true is not supported`, {
      file,
    });
  }
  const karras = r['use_karras_sigmas'];
  if (karras === true) {
    throw new EngineError('model_incompatible', `${file}: "use_karras_sigmas": true is not supported`, {
      file,
    });
  }
  return config;
}
