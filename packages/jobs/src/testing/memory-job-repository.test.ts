import { describe } from 'vitest';

import { fairOrderContract } from './fair-order.contract.js';
import { jobRepositoryContract } from './job-repository.contract.js';
import { MemoryJobRepository } from './memory-job-repository.js';
import { resultReuseContract } from './result-reuse.contract.js';

describe('MemoryJobRepository (the fast tier’s fake)', () => {
  jobRepositoryContract(() => {
    const repo = new MemoryJobRepository();
    return {
      jobs: repo,
      events: repo,
      purge: (id: string) => Promise.resolve(repo.purge(id)),
    };
  });
  resultReuseContract((hooks) => {
    const repo = new MemoryJobRepository();
    repo.attachedHooks = hooks;
    return { jobs: repo, events: repo, purge: (id: string) => Promise.resolve(repo.purge(id)) };
  });
  fairOrderContract(() => {
    const repo = new MemoryJobRepository();
    return Promise.resolve({
      jobs: repo,
      events: repo,
      purge: (id: string) => Promise.resolve(repo.purge(id)),
      setKey: (keyId, settings) => {
        repo.keySettings.set(keyId, { ...repo.keySettings.get(keyId), ...settings });
        return Promise.resolve();
      },
    });
  });
});
