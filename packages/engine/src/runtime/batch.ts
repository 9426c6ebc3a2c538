import type { Scheduler } from '../scheduler/index.js';
import type { DenoiseRequest, DenoiseResult, StepHooks } from './pipeline.js';
import type { Conditioning, EncodedText } from './text-encoding.js';

/** The state a batched generation keeps per request (pipeline.ts runs it). */

/** How one request of a batch ended. */
export type BatchOutcome = { result: DenoiseResult } | { error: unknown };

/** One request's progress through a batch. */
export interface BatchState {
  index: number;
  req: DenoiseRequest;
  hooks: StepHooks;
  scheduler: Scheduler;
  text: EncodedText;
  latents: Float32Array;
  denoised: Float32Array;
  stepTimes: number[];
  textEncode: number;
}

/** The requests' conditioning rows, one after another. */
export function concatConditioning(texts: EncodedText[]): Conditioning {
  if (texts.length === 1) return texts[0]!;
  const cat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  };
  const pooled = texts.every((t) => t.pooled) ? cat(texts.map((t) => t.pooled!)) : null;
  return { hidden: cat(texts.map((t) => t.hidden)), pooled, batch: texts.reduce((a, t) => a + t.batch, 0) };
}
