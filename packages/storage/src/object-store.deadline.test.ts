import { performance } from 'node:perf_hooks';

import { DeadlineExceededError, StorageError } from '@imagegen/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHungS3, type HungS3 } from '../../../test/support/hung-s3.js';
import { S3_CREDENTIALS } from '../../../test/support/s3.js';
import { newObjectKey, ObjectStore, type StorageConfig } from './object-store.js';

const TIMEOUT_MS = 300;
/** "Within its deadline" means before 3× the timeout plus a second: generous on a loaded 2-core machine. */
const BOUND_MS = 3 * TIMEOUT_MS + 1_000;

let hung: HungS3;
beforeAll(async () => {
  hung = await startHungS3();
});
afterAll(() => hung.close());

function hungStore(overrides: Partial<StorageConfig> = {}): ObjectStore {
  return new ObjectStore({
    endpoint: hung.endpoint,
    publicEndpoint: hung.endpoint,
    ...S3_CREDENTIALS,
    bucket: 'images',
    region: 'us-east-1',
    objectTtlMs: 3_600_000,
    requestTimeoutMs: TIMEOUT_MS,
    ...overrides,
  });
}

/** Runs `call`, expecting a StorageError caused by a missed deadline, and returns how long it took. */
async function deadlineMiss(call: () => Promise<unknown>): Promise<{ ms: number; err: StorageError }> {
  const before = hung.accepted();
  const start = performance.now();
  const err: unknown = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  const ms = performance.now() - start;
  expect(err).toBeInstanceOf(StorageError);
  expect(err).toMatchObject({ code: 'storage_unavailable', retryable: true });
  expect((err as StorageError).cause).toBeInstanceOf(DeadlineExceededError);
  expect(hung.accepted()).toBeGreaterThan(before); // the request did reach the endpoint
  // The request was destroyed, not abandoned: the endpoint sees its connection close.
  await hung.allClosed();
  expect(hung.open()).toBe(0);
  return { ms, err: err as StorageError };
}

// A regression leaves connections open and `allClosed` pending: fail in seconds, not at the 60 s default.
describe(
  'ObjectStore against an endpoint that accepts connections and never answers',
  { timeout: 10_000 },
  () => {
    it('put rejects with a retryable StorageError within its deadline and closes the connection', async () => {
      const { ms } = await deadlineMiss(() =>
        hungStore().put(newObjectKey('png'), Buffer.alloc(64 * 1024), 'image/png'),
      );
      expect(ms).toBeLessThan(BOUND_MS);
    });

    it('delete rejects with a StorageError within its deadline', async () => {
      const { ms } = await deadlineMiss(() => hungStore().delete([newObjectKey('png')]));
      expect(ms).toBeLessThan(BOUND_MS);
    });

    it('ensureBucket rejects with a StorageError within its deadline', async () => {
      const { ms } = await deadlineMiss(() => hungStore().ensureBucket());
      expect(ms).toBeLessThan(BOUND_MS);
    });

    it('sweep rejects with a StorageError within its deadline', async () => {
      const { ms } = await deadlineMiss(() => hungStore().sweep());
      expect(ms).toBeLessThan(BOUND_MS);
    });

    it('ping reports not ready within its own shorter deadline', async () => {
      const store = hungStore({ requestTimeoutMs: 60_000, pingTimeoutMs: TIMEOUT_MS });
      const start = performance.now();
      expect(await store.ping()).toBe(false);
      expect(performance.now() - start).toBeLessThan(BOUND_MS);
      await hung.allClosed();
      expect(hung.open()).toBe(0);
    });

    it("put rejects with the caller's abort reason when its signal aborts, and closes the connection", async () => {
      const store = hungStore({ requestTimeoutMs: 60_000 });
      const controller = new AbortController();
      const reason = new Error('the job was canceled');
      const connected = hung.nextConnection();
      const put = store.put(newObjectKey('png'), Buffer.from('x'), 'image/png', {
        signal: controller.signal,
      });
      await connected;
      controller.abort(reason);
      await expect(put).rejects.toBe(reason);
      await hung.allClosed();
      expect(hung.open()).toBe(0);
    });

    it('put with an already aborted signal rejects at once without connecting', async () => {
      const before = hung.accepted();
      const reason = new Error('already canceled');
      await expect(
        hungStore().put(newObjectKey('png'), Buffer.from('x'), 'image/png', {
          signal: AbortSignal.abort(reason),
        }),
      ).rejects.toBe(reason);
      expect(hung.accepted()).toBe(before);
    });
  },
);
