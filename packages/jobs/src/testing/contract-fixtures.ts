import { randomUUID } from 'node:crypto';

import type { NewJobRecord } from '@imagegen/contracts';

import type { JobEvents } from '../job-events.js';
import type { JobRepository } from '../job-repository.js';

/** What a contract test runs against. */
export interface ContractSubject {
  jobs: JobRepository;
  events: JobEvents;
  /** Forgets a record as Redis does when its retention ends. */
  purge: (id: string) => Promise<void>;
}

/** Records and limits the contract tests submit. */
export function contractFixtures() {
  const input = {
    prompt: 'a cat',
    aspect_ratio: '1:1',
    output_format: 'png',
    seed: 1,
    prompt_upsampling: false,
    safety_tolerance: 2,
  } as const;
  const newJob = (keyId: string): NewJobRecord => ({
    id: `gen_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    keyId: `${keyId}-${randomUUID().slice(0, 6)}`,
    input,
    metadata: { order: 7 },
    objectKey: 'images/x.png',
    requestId: 'req_1',
    createdAt: Date.now(),
    deadlineAt: Date.now() + 60_000,
    webhook: null,
    analysis: { subject: 'cat' },
    warnings: [{ code: 'too_short', message: 'add detail' }],
  });
  const sameKey = (job: NewJobRecord): NewJobRecord => ({ ...newJob('x'), keyId: job.keyId });
  const limits = { concurrency: 3, queueBound: 0 };
  const image = {
    key: 'images/x.png',
    bytes: 10,
    width: 1024,
    height: 1024,
    format: 'png',
    revised_prompt: null,
  } as const;
  return { input, newJob, sameKey, limits, image };
}
