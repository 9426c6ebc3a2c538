import { describe, expect, it } from 'vitest';

import { alphasCumprod, createScheduler, parseSchedulerConfig, sigmasFromAlphas } from './index.js';

// Stable Diffusion's training schedule (scaled_linear, β 0.00085–0.012, 1000 steps).
const sd = (extra: Record<string, unknown>) =>
  parseSchedulerConfig({
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    beta_end: 0.012,
    num_train_timesteps: 1000,
    ...extra,
  });

const euler = (spacing: string, offset = 0) =>
  sd({ _class_name: 'EulerDiscreteScheduler', timestep_spacing: spacing, steps_offset: offset });

describe('noise schedule (golden values from diffusers formulas)', () => {
  it('matches ᾱ and σ of Stable Diffusion at the schedule ends', () => {
    const a = alphasCumprod(euler('trailing'));
    expect(a[0]).toBeCloseTo(0.99915, 6);
    // float32 accumulation order differs between PyTorch versions by ~1e-6 relative.
    expect(a[999]! / 0.0046600895).toBeCloseTo(1, 5);
    expect(a[1]).toBeCloseTo(0.998296, 5);
    expect(a[501]).toBeCloseTo(0.274999, 5);
    expect(a[981]).toBeCloseTo(0.0057755, 6);
    const s = sigmasFromAlphas(a);
    expect(s[999]! / 14.6146555).toBeCloseTo(1, 5);
    expect(s[0]).toBeCloseTo(0.0291675, 6);
  });
});

describe('Euler timesteps, sigmas and init noise', () => {
  it('trailing, 4 steps (SD-Turbo config)', () => {
    const s = createScheduler(euler('trailing', 1), 4);
    expect(s.timesteps).toEqual([999, 749, 499, 249]);
    const want = [14.61466, 4.08173, 1.61289, 0.69321, 0];
    s.sigmas.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    expect(s.initNoiseSigma).toBeCloseTo(14.61466, 4);
  });

  it('leading with steps_offset 1, 4 steps: init σ is √(σmax²+1)', () => {
    const s = createScheduler(euler('leading', 1), 4);
    expect(s.timesteps).toEqual([751, 501, 251, 1]);
    const want = [4.1167, 1.62369, 0.6984, 0.04131, 0];
    s.sigmas.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 3));
    expect(s.initNoiseSigma).toBeCloseTo(4.2364, 3);
  });

  it('linspace keeps fractional timesteps and 1 or 2 steps are valid', () => {
    expect(createScheduler(euler('linspace'), 4).timesteps.map((t) => t.toFixed(3))).toEqual([
      '999.000',
      '666.000',
      '333.000',
      '0.000',
    ]);
    expect(createScheduler(euler('linspace'), 2).timesteps).toEqual([999, 0]);
    expect(createScheduler(euler('trailing'), 1).timesteps).toEqual([999]);
    expect(createScheduler(euler('trailing'), 2).timesteps).toEqual([999, 499]);
    expect(createScheduler(euler('leading', 1), 2).timesteps).toEqual([501, 1]);
    expect(createScheduler(euler('trailing'), 3).timesteps).toEqual([999, 666, 332]);
  });

  it('scales the model input by 1/√(σ²+1)', () => {
    const s = createScheduler(euler('trailing'), 4);
    const out = s.scaleModelInput(new Float32Array([1, -2]), 0);
    const k = 1 / Math.sqrt(14.61466 ** 2 + 1);
    expect(out[0]).toBeCloseTo(k, 5);
    expect(out[1]).toBeCloseTo(-2 * k, 5);
  });

  it('an Euler step with a perfect ε-prediction lands on the clean sample', () => {
    const s = createScheduler(euler('trailing'), 4);
    const x0 = new Float32Array([0.3, -0.7]);
    const eps = new Float32Array([1.2, 0.4]);
    const sigma = s.sigmas[0]!;
    const x = x0.map((v, i) => v + sigma * eps[i]!);
    const { prevSample, denoised } = s.step(eps, 0, x, () => new Float32Array(2));
    expect(denoised[0]).toBeCloseTo(0.3, 4);
    const sNext = s.sigmas[1]!;
    expect(prevSample[0]).toBeCloseTo(0.3 + sNext * 1.2, 3);
  });

  it('v-prediction recovers x0 = α·x − σ·v in σ-space', () => {
    const s = createScheduler({ ...euler('trailing'), predictionType: 'v_prediction' }, 4);
    const sigma = s.sigmas[0]!;
    // x = x0 + σ ε ; v (in diffusers' k-space form) satisfies x0 = −σ/√(σ²+1)·v + x/(σ²+1).
    const x0 = 0.5;
    const eps = -1.0;
    const x = x0 + sigma * eps;
    const v = ((x / (sigma * sigma + 1) - x0) * Math.sqrt(sigma * sigma + 1)) / sigma;
    const { denoised } = s.step(new Float32Array([v]), 0, new Float32Array([x]), () => new Float32Array(1));
    expect(denoised[0]).toBeCloseTo(x0, 4);
  });
});

describe('Euler ancestral', () => {
  it('uses σ_up/σ_down and draws the fresh noise of the step', () => {
    const s = createScheduler(
      sd({ _class_name: 'EulerAncestralDiscreteScheduler', timestep_spacing: 'trailing' }),
      4,
    );
    const steps: number[] = [];
    const x = new Float32Array([1]);
    const { prevSample } = s.step(new Float32Array([0]), 1, x, (i) => {
      steps.push(i);
      return new Float32Array([2]);
    });
    const [from, to] = [s.sigmas[1]!, s.sigmas[2]!];
    const up = Math.sqrt((to ** 2 * (from ** 2 - to ** 2)) / from ** 2);
    const down = Math.sqrt(to ** 2 - up ** 2);
    // ε = 0 → x0 = x, derivative 0: only the noise term moves the sample.
    expect(prevSample[0]).toBeCloseTo(1 + 2 * up, 4);
    expect(down).toBeLessThan(to);
    expect(steps).toEqual([1]);
    // The last step (σ_next = 0) adds no noise.
    s.step(new Float32Array([0]), 3, x, () => {
      throw new Error('no noise expected on the final step');
    });
  });
});

describe('DDIM', () => {
  const ddim = (spacing: string, offset = 1) =>
    sd({ _class_name: 'DDIMScheduler', timestep_spacing: spacing, steps_offset: offset, clip_sample: false });

  it('leading (SD 1.x style) and trailing timesteps', () => {
    expect(createScheduler(ddim('leading'), 4).timesteps).toEqual([751, 501, 251, 1]);
    expect(createScheduler(ddim('trailing', 0), 4).timesteps).toEqual([999, 749, 499, 249]);
    expect(createScheduler(ddim('linspace', 0), 4).timesteps).toEqual([999, 666, 333, 0]);
    expect(createScheduler(ddim('leading'), 4).initNoiseSigma).toBe(1);
  });

  it('a step with the true ε moves to √ᾱ_prev·x0 + √(1−ᾱ_prev)·ε', () => {
    const cfg = ddim('leading');
    const s = createScheduler(cfg, 4);
    const a = alphasCumprod(cfg);
    const [t, tp] = [751, 501];
    const x0 = 0.25;
    const eps = 0.8;
    const x = Math.sqrt(a[t]!) * x0 + Math.sqrt(1 - a[t]!) * eps;
    const { prevSample } = s.step(
      new Float32Array([eps]),
      0,
      new Float32Array([x]),
      () => new Float32Array(1),
    );
    expect(prevSample[0]).toBeCloseTo(Math.sqrt(a[tp]!) * x0 + Math.sqrt(1 - a[tp]!) * eps, 5);
  });

  it('uses the final ᾱ (ᾱ[0] with set_alpha_to_one false) after the last step', () => {
    const cfg = { ...ddim('leading'), setAlphaToOne: false };
    const s = createScheduler(cfg, 4);
    const a = alphasCumprod(cfg);
    const x0 = 0.1;
    const eps = 0.5;
    const x = Math.sqrt(a[1]!) * x0 + Math.sqrt(1 - a[1]!) * eps;
    const { prevSample } = s.step(
      new Float32Array([eps]),
      3,
      new Float32Array([x]),
      () => new Float32Array(1),
    );
    expect(prevSample[0]).toBeCloseTo(Math.sqrt(a[0]!) * x0 + Math.sqrt(1 - a[0]!) * eps, 5);
  });
});

describe('LCM', () => {
  const lcm = sd({ _class_name: 'LCMScheduler' });
  it('draws timesteps from the 50-step teacher schedule', () => {
    expect(createScheduler(lcm, 4).timesteps).toEqual([999, 759, 499, 259]);
    expect(createScheduler(lcm, 1).timesteps).toEqual([999]);
    expect(createScheduler(lcm, 2).timesteps).toEqual([999, 499]);
  });
  it('returns the boundary-conditioned estimate and adds noise except on the last step', () => {
    const s = createScheduler(lcm, 2);
    const used: number[] = [];
    const noise = (i: number) => {
      used.push(i);
      return new Float32Array([0]);
    };
    const a = alphasCumprod(lcm);
    const x = new Float32Array([Math.sqrt(a[999]!) * 0.4 + Math.sqrt(1 - a[999]!) * 1]);
    const r = s.step(new Float32Array([1]), 0, x, noise);
    expect(r.denoised[0]).toBeCloseTo(0.4, 3); // c_skip ≈ 0 at t = 999
    expect(r.prevSample[0]).toBeCloseTo(Math.sqrt(a[499]!) * r.denoised[0]!, 5);
    const last = s.step(new Float32Array([1]), 1, x, noise);
    expect(last.prevSample).toEqual(last.denoised);
    expect(used).toEqual([0]);
  });
});

describe('PNDM (PLMS)', () => {
  const pndm = sd({ _class_name: 'PNDMScheduler', skip_prk_steps: true, steps_offset: 1 });
  it('repeats the second timestep for the warm-up (SD 1.5 config)', () => {
    expect(createScheduler(pndm, 4).timesteps).toEqual([751, 501, 501, 251, 1]);
  });
  it('with a constant ε, every step equals a DDIM step', () => {
    const ddimCfg = sd({
      _class_name: 'DDIMScheduler',
      steps_offset: 1,
      set_alpha_to_one: false,
      clip_sample: false,
    });
    const p = createScheduler(pndm, 4);
    const d = createScheduler(ddimCfg, 4);
    const eps = new Float32Array([0.3]);
    let xp: Float32Array = new Float32Array([1.5]);
    let xd: Float32Array = new Float32Array([1.5]);
    const zero = () => new Float32Array(1);
    for (let i = 0; i < p.timesteps.length; i++) xp = p.step(eps, i, xp, zero).prevSample;
    for (let i = 0; i < d.timesteps.length; i++) xd = d.step(eps, i, xd, zero).prevSample;
    expect(xp[0]).toBeCloseTo(xd[0]!, 4);
  });
});

describe('scheduler config errors', () => {
  it('names the file and the supported values', () => {
    expect(() => parseSchedulerConfig({ _class_name: 'DPMSolverMultistepScheduler' })).toThrow(
      /scheduler_config\.json: scheduler "DPMSolverMultistepScheduler" is not supported; use one of/,
    );
    expect(() => parseSchedulerConfig({ _class_name: 'DDIMScheduler', timestep_spacing: 'odd' })).toThrow(
      /"timestep_spacing" is "odd"; supported values: leading, linspace, trailing/,
    );
    expect(() => parseSchedulerConfig({ _class_name: 'PNDMScheduler' })).toThrow(/skip_prk_steps/);
    expect(() => createScheduler(euler('trailing'), 0)).toThrow(/steps must be an integer/);
  });
});
