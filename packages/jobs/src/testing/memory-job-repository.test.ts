import { describe } from 'vitest';

import { jobRepositoryContract } from './job-repository.contract.js';
import { MemoryJobRepository } from './memory-job-repository.js';

describe('MemoryJobRepository (the fast tier’s fake)', () => {
  jobRepositoryContract(() => {
    const repo = new MemoryJobRepository();
    return {
      jobs: repo,
      events: repo,
      purge: (id: string) => Promise.resolve(repo.purge(id)),
    };
  });
});
