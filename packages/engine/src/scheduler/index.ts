import { EngineError } from '../errors.js';
import type { SchedulerConfig } from './config.js';
import { DdimScheduler } from './ddim.js';
import { EulerScheduler } from './euler.js';
import { LcmScheduler } from './lcm.js';
import { PndmScheduler } from './pndm.js';
import type { Scheduler } from './types.js';

export * from './config.js';
export * from './types.js';
export { alphasCumprod, betas, sigmasFromAlphas, torchLinspaceF32 } from './schedule.js';

/** A fresh scheduler for one generation of `steps` inference steps. */
export function createScheduler(config: SchedulerConfig, steps: number): Scheduler {
  if (!Number.isInteger(steps) || steps < 1 || steps > config.numTrainTimesteps) {
    throw new EngineError(
      'invalid_argument',
      `steps must be an integer between 1 and ${config.numTrainTimesteps}, got ${steps}`,
    );
  }
  switch (config.className) {
    case 'EulerDiscreteScheduler':
    case 'EulerAncestralDiscreteScheduler':
      return new EulerScheduler(config, steps);
    case 'DDIMScheduler':
      return new DdimScheduler(config, steps);
    case 'LCMScheduler':
      return new LcmScheduler(config, steps);
    case 'PNDMScheduler':
      return new PndmScheduler(config, steps);
  }
}
