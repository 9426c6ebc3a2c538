import { doNotRetry, type JobHandlers } from '@imagegen/jobs';

import { GenerationProcessor, type ProcessorDeps } from './processor.js';

/** The worker without its transport: the processor, and the handler of each catalog job it consumes. */
export interface Worker {
  processor: GenerationProcessor;
  handlers: JobHandlers<'generate'>;
}

/**
 * Builds the worker from its adapters (tests pass fakes; `startWorker` passes Redis, S3 and the engine).
 * A job that ended `failed` is reported to BullMQ as not to be retried, so it stays among BullMQ's failed
 * jobs; one the processor hands back (a transient failure) is retried with the catalog's backoff.
 */
export function createWorker(deps: ProcessorDeps): Worker {
  const processor = new GenerationProcessor(deps);
  return {
    processor,
    handlers: {
      generate: async (job) => {
        if ((await processor.process(job)) === 'failed')
          throw doNotRetry('the job failed; its record says why');
      },
    },
  };
}
