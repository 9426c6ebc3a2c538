import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

// Tests run against the TypeScript sources of every workspace package, never a stale dist/.
export default defineConfig({
  resolve: {
    alias: {
      '@imagegen/engine/model-files': src('./packages/engine/src/model-files.ts'),
      '@imagegen/engine': src('./packages/engine/src/index.ts'),
      '@imagegen/networks': src('./packages/networks/src/index.ts'),
      '@imagegen/contracts': src('./packages/contracts/src/index.ts'),
      '@imagegen/storage': src('./packages/storage/src/index.ts'),
      '@imagegen/jobs/testing': src('./packages/jobs/src/testing/index.ts'),
      '@imagegen/jobs': src('./packages/jobs/src/index.ts'),
      '@imagegen/access': src('./packages/access/src/index.ts'),
      '@imagegen/observability': src('./packages/observability/src/index.ts'),
      '@imagegen/api': src('./apps/api/src/index.ts'),
      '@imagegen/worker': src('./apps/worker/src/index.ts'),
      '@imagegen/dispatcher': src('./apps/dispatcher/src/index.ts'),
      '@imagegen/s3-lite': src('./packages/s3-lite/src/index.ts'),
      '@imagegen/prompt': src('./packages/prompt/src/index.ts'),
      '@imagegen/webhooks': src('./packages/webhooks/src/index.ts'),
      // Tests run in Node: the client's Node entry (its browser entry is the same minus file downloads).
      '@imagegen/client': src('./packages/client/src/node.ts'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most files wait on child processes, Redis and HTTP rather than compute: two files at a time use the
    // CI's two cores (vitest's default there is one) while `npm test` type-checks and lints beside them.
    poolOptions: { forks: { minForks: 1, maxForks: 2 } },
  },
});
