import type { SchedulerConfig, TimestepSpacing } from './config.js';

const f = Math.fround;

/**
 * `torch.linspace(start, end, steps, dtype=float32)` as computed by PyTorch's CPU kernel: float32
 * arithmetic, the first half stepping up from `start`, the second half stepping down from `end`.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)));
  }
  return out;
}

/** β schedule, float32, as diffusers builds it. */
export function betas(config: SchedulerConfig): Float32Array {
  const n = config.numTrainTimesteps;
  if (config.trainedBetas) return Float32Array.from(config.trainedBetas);
  switch (config.betaSchedule) {
    case 'linear':
      return torchLinspaceF32(config.betaStart, config.betaEnd, n);
    case 'scaled_linear': {
      const roots = torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n);
      return roots.map((x) => f(x * x));
    }
    case 'squaredcos_cap_v2': {
      // Glide cosine schedule (diffusers betas_for_alpha_bar, max_beta 0.999).
      const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
      return out;
    }
  }
}

/**
 * ᾱ_t = ∏(1 − β): float32 values, accumulated in float64 as PyTorch's CPU `cumprod` does for float32.
 */
export function alphasCumprod(config: SchedulerConfig): Float32Array {
  const b = betas(config);
  const out = new Float32Array(b.length);
  let acc = 1;
  for (let i = 0; i < b.length; i++) {
    acc *= f(1 - b[i]!);
    out[i] = acc;
  }
  return out;
}

/** σ_t = √((1 − ᾱ_t)/ᾱ_t) for every training timestep, float32. */
export function sigmasFromAlphas(alphas: Float32Array): Float32Array {
  return alphas.map((a) => f(Math.sqrt(f(f(1 - a) / a))));
}

/** Linear interpolation of σ at (possibly fractional) timesteps, like `np.interp(t, arange(N), σ)`. */
export function interpSigma(sigmas: Float32Array, t: number): number {
  if (t <= 0) return sigmas[0]!;
  const last = sigmas.length - 1;
  if (t >= last) return sigmas[last]!;
  const i = Math.floor(t);
  const frac = t - i;
  return sigmas[i]! + (sigmas[i + 1]! - sigmas[i]!) * frac;
}

/**
 * Inference timesteps (descending) for Euler-family schedulers: fractional values survive for `linspace`.
 * diffusers scheduling_euler_discrete.py `set_timesteps`.
 */
export function eulerTimesteps(spacing: TimestepSpacing, n: number, train: number, offset: number): number[] {
  switch (spacing) {
    case 'linspace': {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(n === 1 ? 0 : ((train - 1) * i) / (n - 1));
      return out.reverse().map(f);
    }
    case 'leading': {
      const ratio = Math.floor(train / n);
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(Math.round(i * ratio) + offset);
      return out.reverse();
    }
    case 'trailing': {
      const ratio = train / n;
      const out: number[] = [];
      // np.arange(train, 0, -ratio) evaluates start + i·step.
      for (let i = 0; i < n; i++) out.push(roundHalfEven(train - i * ratio) - 1);
      return out;
    }
  }
}

/** Integer timesteps for DDIM (diffusers scheduling_ddim.py `set_timesteps`). */
export function ddimTimesteps(spacing: TimestepSpacing, n: number, train: number, offset: number): number[] {
  switch (spacing) {
    case 'linspace': {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(roundHalfEven(n === 1 ? 0 : ((train - 1) * i) / (n - 1)));
      return out.reverse();
    }
    case 'leading':
      return eulerTimesteps('leading', n, train, offset);
    case 'trailing':
      return eulerTimesteps('trailing', n, train, offset);
  }
}

/** numpy's `round`: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
